// Bad input never reaches the table or the broker: one sentence (what happened, what to do), a
// non-zero exit, no stack, no password.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countJobs, scene, useScenes } from '../test/scenes/06-scheduled-jobs.ts';
import { expectOneSentence, runProgram, uniqueName } from '../test/testing.ts';
import { connectDatabase } from './postgres.ts';

useScenes();

describe('enqueue refuses what no broker would publish', () => {
  const { schema } = scene('badtopic');
  test.each([
    [
      'a wildcard',
      ['--topic', 'a/#'],
      /--topic 'a\/#' contains the wildcard '#', which only a subscription may use/,
    ],
    ['a single-level wildcard', ['--topic', 'home/+/valve'], /contains the wildcard '\+'/],
    ['an empty topic', ['--topic', ''], /--topic '' is empty/],
    ['a $SYS topic', ['--topic', '$SYS/broker/x'], /starts with \$, which brokers keep/],
    [
      'an over-long topic',
      ['--topic', 'x'.repeat(70_000)],
      /is 70,000 bytes long, more than the 65,535 MQTT allows/,
    ],
    [
      'an oversized payload',
      ['--payload', 'x'.repeat(70_000)],
      /--payload is 70,000 bytes, more than the 65,536 a job may carry/,
    ],
    ['--in 1e300', ['--in', '1e300'], /would fire outside the years 1970 to 9999/],
    ['--at in the year 10000', ['--at', '+010000-01-01T00:00:00Z'], /would fire outside the years 1970/],
    ['--spread 1e300', ['--spread', '1e300'], /would fire outside the years 1970 to 9999/],
  ])('%s', async (_, flags, pattern) => {
    const exit = await runProgram('06-scheduled-jobs/enqueue', [
      '--schema',
      schema,
      '--count',
      '5',
      ...flags,
    ]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(exit.stderr.length).toBeLessThan(400); // the 70,000 characters are not echoed
    // Refused before it touched the table (which was therefore never even created).
    expect(await countJobs(schema, 'true').catch(() => 0)).toBe(0);
  });
});

describe('subscriber filters no broker would accept', () => {
  test.each([
    ['an empty filter', '', /--topic '' is empty/],
    ["'#' inside a filter", 'job/#/valve', /uses '#' other than as the whole last level/],
    ["'+' inside a level", 'job/valve+/x', /uses '\+' other than as a whole level/],
  ])('%s', async (_, topic, pattern) => {
    const exit = await runProgram('06-scheduled-jobs/subscriber', ['--topic', topic, '--count', '1']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});

describe('publisher flags', () => {
  test.each([
    ['--lanes 0', ['--lanes', '0'], /--lanes must be at least 1, not 0\./],
    [
      '--jobs-per-read 100000',
      ['--jobs-per-read', '100000'],
      /--jobs-per-read must be at most 10000, not 100000\./,
    ],
    [
      'more publishes in flight than MQTT has packet ids',
      ['--lanes', '8', '--jobs-per-read', '10000'],
      /--lanes 8 × --jobs-per-read 10000 would keep 80,000 publishes awaiting their PUBACK, more than MQTT's 65,535 packet ids/,
    ],
  ])('%s', async (_, flags, pattern) => {
    const exit = await runProgram('06-scheduled-jobs/publisher', flags);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});

describe('services that are not what the URL promises', () => {
  test('MQTT_URL at RabbitMQ’s AMQP port: says it is not MQTT, names the port, hides the password', async () => {
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--exit-when-idle'], {
      MQTT_URL: 'mqtt://device:secret-mqtt@localhost:5672',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /at mqtt:\/\/device:\*\*\*@localhost:5672 (answered, but not in MQTT|closed the connection before answering the MQTT handshake).*5672 is RabbitMQ's AMQP/,
    );
    expect(expectOneSentence(exit.stderr, 'secret-mqtt')).toEqual([]);
  });

  test.each([
    ['RabbitMQ’s AMQP port', 5672],
    ['Mosquitto’s MQTT port', 1883],
  ])(
    'DATABASE_URL at %s: says it is not PostgreSQL, names the ports, hides the password',
    async (_, port) => {
      const exit = await runProgram('06-scheduled-jobs/enqueue', ['--count', '1'], {
        DATABASE_URL: `postgres://postgres:secret-pg@localhost:${port}/postgres`,
      });
      expect(exit.code).toBe(1);
      expect(exit.stderr).toMatch(
        new RegExp(
          `at postgres://postgres:\\*\\*\\*@localhost:${port}/postgres closed the connection before answering PostgreSQL's handshake.*5672 is RabbitMQ's AMQP, 1883 MQTT`,
        ),
      );
      expect(expectOneSentence(exit.stderr, 'secret-pg')).toEqual([]);
    },
  );

  describe('a database without the jobs table, whose user may not create it', () => {
    const role = uniqueName('l06_noperm').replace(/-/g, '_');
    beforeAll(async () => {
      const db = await connectDatabase();
      await db.query(`CREATE ROLE ${role} LOGIN PASSWORD 'secret-pg'`);
      await db.query(`CREATE DATABASE ${role}`);
      await db.query(`REVOKE CREATE ON DATABASE ${role} FROM PUBLIC`);
      await db.end();
    });
    afterAll(async () => {
      const db = await connectDatabase();
      await db.query(`DROP DATABASE IF EXISTS ${role} WITH (FORCE)`);
      await db.query(`DROP ROLE IF EXISTS ${role}`);
      await db.end();
    });

    test.each([['publisher'], ['enqueue']])('%s', async (program) => {
      const exit = await runProgram(
        `06-scheduled-jobs/${program}`,
        ['--exit-when-idle'].slice(program === 'publisher' ? 0 : 1),
        {
          DATABASE_URL: `postgres://${role}:secret-pg@127.0.0.1:5432/${role}`,
        },
      );
      expect(exit.code).toBe(1);
      expect(exit.stderr).toMatch(
        new RegExp(
          `The jobs table is missing .* in the database at postgres://${role}:\\*\\*\\*@127\\.0\\.0\\.1:5432/${role}, and its user may not create it \\(permission denied for schema public\\): run 06-scheduled-jobs/schema\\.sql`,
        ),
      );
      expect(expectOneSentence(exit.stderr, 'secret-pg')).toEqual([]);
    });
  });
});
