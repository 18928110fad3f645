// End to end: real programs given URLs whose passwords hide in every shape never print them, on
// stdout, stderr or in their log files, and end with one sentence and a non-zero exit.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { managementAuth } from '../shared/config.ts';
import { runProgram } from './testing.ts';

/** Runs a program with its own log folder, so each run's log files are checked alone. */
async function run(program: string, args: string[], env: NodeJS.ProcessEnv) {
  const logs = mkdtempSync(join(tmpdir(), 'secrets-e2e-logs-'));
  const exit = await runProgram(program, args, { ...env, LOG_DIR: logs });
  const lines = exit.stderr.split('\n').filter((line) => line.trim());
  const logged = readdirSync(logs).map((file) => readFileSync(join(logs, file), 'utf8'));
  return { ...exit, lines, last: lines.at(-1) ?? '', logged: logged.join('\n'), logFiles: logged.length };
}

/** The contract: no secret anywhere, no stack, a last line that says what happened and what to do. */
function expectNoSecret(exit: { stdout: string; stderr: string; logged: string }) {
  expect(exit.stdout).not.toMatch(/SECRET/);
  expect(exit.stderr).not.toMatch(/SECRET/);
  expect(exit.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(exit.logged).not.toMatch(/SECRET/);
}

const shapes = {
  'an unencoded @': (scheme: string, port: number) => `${scheme}://learner:p@ss-SECRET@127.0.0.1:${port}`,
  'an unencoded /': (scheme: string, port: number) => `${scheme}://learner:pa/SECRET@127.0.0.1:${port}`,
  'an unencoded #': (scheme: string, port: number) => `${scheme}://learner:pa#SECRET@127.0.0.1:${port}`,
  'an unencoded :': (scheme: string, port: number) => `${scheme}://learner:pa:SECRET@127.0.0.1:${port}`,
  spaces: (scheme: string, port: number) => `${scheme}://learner:p ss SECRET@127.0.0.1:${port}`,
  'everything encoded': (scheme: string, port: number) =>
    `${scheme}://learner:p%40ss%2F%23%3A%20SECRET@127.0.0.1:${port}`,
  'the query string': (scheme: string, port: number) =>
    `${scheme}://learner@127.0.0.1:${port}/x?password=SECRET`,
  'not a URL at all': () => 'not a url SECRET',
};

describe.each([
  ['AMQP_URL', '01-hello-world/send', [], 'amqp', 1],
  ['DATABASE_URL', '06-scheduled-jobs/enqueue', ['--count', '1'], 'postgres', 1],
  ['MQTT_URL', '06-scheduled-jobs/subscriber', ['--count', '1'], 'mqtt', 1],
] as const)('%s', (variable, program, args, scheme, port) => {
  test.each(Object.entries(shapes))(`a password in ${program} with %s`, async (_, shape) => {
    const exit = await run(program, [...args], { [variable]: shape(scheme, port) });
    expect(exit.code).toBe(1);
    expect(exit.lines).toHaveLength(1);
    expect(exit.last).toMatch(/: .+\.$/);
    expect(exit.logFiles).toBe(1); // the sentence went to a log file too, and was checked there
    expectNoSecret(exit);
  });
});

describe('AMQP_URL, special cases', () => {
  test('a wrong password with an unencoded @ against the real broker', async () => {
    const exit = await run('01-hello-world/send', [], {
      AMQP_URL: 'amqp://guest:p@ss-SECRET@localhost:5672',
    });
    expect(exit.code).toBe(1);
    expect(exit.last).toMatch(/^RabbitMQ at amqp:\/\/guest:\*\*\*@localhost:5672 refused the login/);
    expectNoSecret(exit);
  });

  test('a node list: each node named, masked, then one last sentence', async () => {
    const exit = await run('01-hello-world/send', [], {
      AMQP_URL: 'amqp://guest:SECRET1@127.0.0.1:1,amqp://guest:p@ss-SECRET2@127.0.0.1:2',
    });
    expect(exit.code).toBe(1);
    expect(exit.last).toMatch(/^Could not connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:2 /);
    expectNoSecret(exit);
  });
});

describe('DATABASE_URL, special cases', () => {
  test('a password in the query string, which pg sends, for a role that does not exist', async () => {
    const exit = await run('06-scheduled-jobs/enqueue', ['--count', '1'], {
      DATABASE_URL: 'postgres://no_such_role_secrets@127.0.0.1:5432/postgres?password=SECRET',
    });
    expect(exit.code).toBe(1);
    expect(exit.last).toMatch(
      /^PostgreSQL at postgres:\/\/no_such_role_secrets@127\.0\.0\.1:5432\/postgres\?password=\*\*\* refused the login/,
    );
    expectNoSecret(exit);
  });
});

describe('RABBITMQ_MANAGEMENT_URL', () => {
  const base = managementAuth({}).base;
  test.each([
    ['a wrong password with an unencoded @', base.replace('://', '://admin:p@ss-SECRET@')],
    ['an unencoded /', base.replace('://', '://admin:pa/SECRET@')],
    ['not a URL at all', 'not a url SECRET'],
  ])('npm run about with %s says why RabbitMQ is not reachable, masked', async (_, url) => {
    const exit = await run('scripts/about', [], { RABBITMQ_MANAGEMENT_URL: url });
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(/^RabbitMQ {5}not reachable: .*RABBITMQ_MANAGEMENT_URL.*\.$/m);
    expectNoSecret(exit);
  });

  test('npm run about --json with a password in every URL', async () => {
    const exit = await run('scripts/about', ['--json'], {
      AMQP_URL: 'amqp://guest:guest@localhost:5672,amqp://other:SECRET@localhost:5673',
      DATABASE_URL: 'postgres://postgres:p@ss-SECRET@127.0.0.1:5432/postgres',
      MQTT_URL: 'mqtt://device:SECRET@127.0.0.1:1883',
    });
    expect(exit.code).toBe(0);
    const record = JSON.parse(exit.stdout) as { postgresql?: { url: string } };
    expect(record.postgresql?.url).toBe('postgres://postgres:***@127.0.0.1:5432/postgres');
    expectNoSecret(exit);
  });
});
