// The hand-in never carries a password: whatever the logs quote, in whatever URL shape.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@jest/globals';
import { runProgram } from '../test/testing.ts';

test('a URL password written into logs/ never reaches the archive (npm run submit --skip-checks)', async () => {
  const from = mkdtempSync(join(tmpdir(), 'submit-secrets-'));
  mkdirSync(join(from, 'logs'));
  mkdirSync(join(from, 'results'));
  const lines = [
    'error [send] RabbitMQ at amqp://guest:p@ss-SECRET@localhost:5672 refused the login',
    'error [send] Could not connect to amqp://u:pa/SECRET@localhost:1',
    'error [send] Could not connect to amqp://u:pa#SECRET@localhost:1 (refused)',
    'error [send] Could not connect to amqp://u:p ss SECRET@localhost:1 (refused)',
    'error [send] nodes amqp://g:SECRET1@h1:5673,amqp://g:SECRET2@h2:5674 all down',
    'error [enqueue] PostgreSQL at postgres://u@localhost/db?password=SECRET refused the login',
    'error [monitor] management API at http://admin:SECRET@localhost:15672 answered 401',
    'debug [publisher] host=localhost user=u password=SECRET dbname=jobs',
    'debug [publisher] the configured password alone: ENV-SECRET',
  ];
  writeFileSync(join(from, 'logs', 'send.log'), `${lines.join('\n')}\n`);
  // A binary file (a NUL byte) that holds a configured password cannot be masked: it is left out.
  writeFileSync(
    join(from, 'results', 'dump.bin'),
    Buffer.concat([Buffer.from([0, 1]), Buffer.from('ENV-SECRET')]),
  );
  writeFileSync(join(from, 'results', 'chart.bin'), Buffer.from([0, 1, 2, 3]));
  const out = join(from, 'out');
  const exit = await runProgram(
    'scripts/submit',
    ['--name', 'Grace', '--skip-checks', '--from', from, '--out', out],
    {
      MQTT_URL: 'mqtt://device:ENV-SECRET@localhost:1883',
      COURSE_PROGRESS_FILE: join(from, 'progress.json'),
    },
  );
  expect(exit.code).toBe(0);
  expect(exit.stderr).toContain('--skip-checks');
  expect(exit.stderr).not.toContain('Running the checks');
  const [archive] = readdirSync(out);
  const unpacked = mkdtempSync(join(tmpdir(), 'submit-unpacked-'));
  execFileSync('tar', ['-xzf', join(out, archive!), '-C', unpacked]);
  const files = readdirSync(unpacked, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  expect(files.map((file) => file.slice(unpacked.length + 1)).sort()).toEqual([
    'SUBMISSION.md',
    'logs/send.log',
    'results/chart.bin',
  ]);
  for (const file of files) expect(readFileSync(file).toString('latin1')).not.toMatch(/SECRET/);
  // What a reader needs is still there, masked.
  const log = readFileSync(join(unpacked, 'logs', 'send.log'), 'utf8');
  expect(log).toContain('RabbitMQ at amqp://guest:***@localhost:5672 refused the login');
  expect(log).toContain('postgres://u@localhost/db?password=***');
  expect(log).toContain('nodes amqp://g:***@h1:5673,amqp://g:***@h2:5674 all down');
  expect(readFileSync(join(unpacked, 'SUBMISSION.md'), 'utf8')).toContain(
    'results/dump.bin (never packed: it holds a password from your URLs)',
  );
  expect(exit.stderr + exit.stdout).not.toMatch(/SECRET/);
});
