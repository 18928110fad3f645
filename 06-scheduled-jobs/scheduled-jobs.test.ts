// Lesson 06's promises against a real PostgreSQL and Mosquitto: each test has its own schema and topic.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { parseOptions } from '../shared/cli.ts';
import { connectDatabase } from '../shared/postgres.ts';
import {
  captureLog,
  expectOneSentence,
  type Running,
  runProgram,
  start,
  stopAll,
  uniqueName,
} from '../shared/testing.ts';
import { enqueue, program as enqueueProgram } from './enqueue.ts';
import { type Arrival, subscribe, program as subscriberProgram } from './subscriber.ts';

const schemas: string[] = [];
afterEach(stopAll);
afterAll(async () => {
  const db = await connectDatabase();
  for (const schema of schemas) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.end();
});

/** A schema and a topic that only this test uses. */
function scene(name: string) {
  const schema = uniqueName(name).replace(/-/g, '_');
  schemas.push(schema);
  return { schema, topic: `job/${schema}/t`, filter: `job/${schema}/#` };
}

async function jobs(schema: string, count: number, ...flags: string[]) {
  await enqueue(parseOptions(enqueueProgram, ['--schema', schema, '--count', String(count), ...flags]), {
    log: captureLog().log,
  });
}

async function unprocessed(schema: string): Promise<number> {
  const db = await connectDatabase({ schema });
  try {
    return Number((await db.query('SELECT count(*) FROM jobs WHERE NOT processed')).rows[0].count);
  } finally {
    await db.end();
  }
}

/**
 * An in-process subscriber that ends when `count` distinct jobs have arrived. At full speed it
 * subscribes with QoS 0: with QoS 1, Mosquitto's window of 20 unacknowledged messages per
 * subscriber and its queue of 1000 make it drop messages for a subscriber that falls behind.
 */
async function listen(filter: string, count: number, qos = '0') {
  const controller = new AbortController();
  const arrivals: Arrival[] = [];
  let ready: () => void = () => {};
  const subscribed = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const { log, lines } = captureLog();
  const wrapped = {
    ...log,
    info: (message: string) => {
      log.info(message);
      if (message.includes('Subscribed')) ready();
    },
  };
  const summary = subscribe(
    parseOptions(subscriberProgram, ['--topic', filter, '--count', String(count), '--qos', qos]),
    { log: wrapped, signal: controller.signal },
    (arrival) => arrivals.push(arrival),
  );
  await subscribed;
  return { summary, arrivals, stop: () => controller.abort(), lines };
}

const publisher = (schema: string, ...flags: string[]): Running =>
  start('06-scheduled-jobs/publisher', ['--schema', schema, '--status-seconds', '0.5', ...flags]);

describe('scheduled jobs', () => {
  test('5 publishers side by side, 20,000 due jobs: the subscriber receives every job exactly once', async () => {
    const { schema, topic, filter } = scene('five');
    await jobs(schema, 20_000, '--topic', topic);
    const subscriber = await listen(filter, 20_000);
    const five = Array.from({ length: 5 }, (_, i) =>
      publisher(schema, '--name', `P${i + 1}`, '--jobs-per-read', '500', '--exit-when-idle'),
    );
    const exits = await Promise.all(five.map((p) => p.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0, 0, 0]);
    const received = await subscriber.summary;
    expect(received).toMatchObject({ unique: 20_000, duplicates: 0 });
    expect(await unprocessed(schema)).toBe(0);
    // They really shared the work.
    const counts = five.map((p) => Number(/(\d+) jobs published in/.exec(p.stderr)?.[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  test('jobs due in the future are not published before their time, and are published soon after it', async () => {
    const { schema, topic, filter } = scene('future');
    const subscriber = await listen(filter, 20, '1');
    const running = publisher(schema, '--loop-ms', '50');
    await running.waitFor(/publishing due jobs/);
    await jobs(schema, 20, '--topic', topic, '--in', '2', '--spread', '1');
    await subscriber.summary;
    running.kill('SIGINT');
    expect((await running.exited).code).toBe(130);
    expect(subscriber.arrivals).toHaveLength(20);
    for (const { receivedAt, fireAt } of subscriber.arrivals) {
      expect(receivedAt).toBeGreaterThanOrEqual(Math.floor(fireAt));
      expect(receivedAt - fireAt).toBeLessThan(1500);
    }
  });

  test('a publisher killed with SIGKILL mid-run loses no job; a job published twice is within one batch and carries the same id', async () => {
    const { schema, topic, filter } = scene('kill');
    await jobs(schema, 20_000, '--topic', topic);
    const subscriber = await listen(filter, 20_000);
    const doomed = publisher(schema, '--name', 'Doomed', '--jobs-per-read', '200');
    const survivor = publisher(schema, '--name', 'Survivor', '--jobs-per-read', '200');
    await doomed.waitFor(/jobs published \(/); // it has published batches
    doomed.kill('SIGKILL');
    const received = await subscriber.summary; // every job, even the ones the killed one held
    survivor.kill('SIGINT');
    await survivor.exited;
    expect(received.unique).toBe(20_000);
    // Rows the killed publisher had claimed but not committed were unlocked and published again.
    expect(received.duplicates).toBeLessThanOrEqual(200);
    expect(await unprocessed(schema)).toBe(0);
  });
});

describe('failures: one sentence, non-zero exit, nothing marked processed that was not published', () => {
  test.each([
    [
      'PostgreSQL down',
      { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/postgres' },
      /Could not connect to PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres \(connection refused\)/,
    ],
    [
      'a database that does not exist',
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/no_such_db' },
      /has no such database .*DATABASE_URL/,
    ],
    [
      'a DATABASE_URL that is not a URL',
      { DATABASE_URL: 'postgres://[nonsense' },
      /DATABASE_URL is not a URL PostgreSQL can use/,
    ],
  ])('%s', async (_, env, pattern) => {
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--exit-when-idle'], env);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr, 'secret')).toEqual([]);
  });

  test('the MQTT broker down: nothing is claimed', async () => {
    const { schema, topic } = scene('nomqtt');
    await jobs(schema, 50, '--topic', topic);
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--schema', schema, '--exit-when-idle'], {
      MQTT_URL: 'mqtt://127.0.0.1:1',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /Could not connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:1 \(connection refused\)/,
    );
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(await unprocessed(schema)).toBe(50);
  });

  test('--jobs-per-read 0 exits 2', async () => {
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--jobs-per-read', '0']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/--jobs-per-read must be at least 1, not 0/);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
