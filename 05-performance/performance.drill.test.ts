// Lesson 05's fault drills on a private RabbitMQ node (slot 4): the producer and the consumer each
// have their connection closed by the broker mid-run, both run through a broker restart, and a
// consumer is killed with SIGKILL while a second one finishes the queue. Each drill counts what the
// producer's CSV says was confirmed against what the consumers' CSVs and the queue hold.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { usePrivateBroker } from '../test/private-broker.ts';
import { account, expectQuiet, ids, ready, table } from '../test/scenes/05-performance.ts';
import {
  closeConnection,
  connectionNamed,
  drainQueue,
  eventually,
  type Running,
  start,
  stopAll,
  uniqueName,
  within,
} from '../test/testing.ts';

// Connections appear in the management API with their first statistics: ask for them often.
const node = usePrivateBroker(4, ['collect_statistics_interval = 500']);
const env = () => ({ AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl });
const rows = (program: Running) => program.stdout.split('\n').length - 1;
const producer = (queue: string, count: number, runId: string, flags: string[] = []) =>
  start(
    '05-performance/producer',
    ['--queue', queue, '--count', `${count}`, '--run-id', runId, ...flags],
    env(),
  );
const consumer = (queue: string, flags: string[]) =>
  start('05-performance/consumer', ['--queue', queue, '--batch', '100', ...flags], env());

/** The producer's confirmed ids against each consumer's rows and what the queue still holds. */
async function tally(queue: string, produced: string, consumed: string[]) {
  const confirmed = ids(produced);
  const handled = consumed.map(ids);
  const left = (await drainQueue(node.amqpUrl, queue)).ids;
  return { confirmed, handled, left, ...account(confirmed, handled, left) };
}

afterEach(stopAll);
afterAll(() => {
  process.stderr.write(
    `\n| drill | what the program did | confirmed | consumed | duplicates | lost | recovery |\n|---|---|---:|---:|---:|---:|---:|\n${table.map((r) => `| ${r.drill} | ${r.did} | ${r.confirmed} | ${r.consumed} | ${r.duplicates} | ${r.lost} | ${r.recoverMs} ms |`).join('\n')}\n`,
  );
});

describe('lesson 05 under faults', () => {
  test('(a) the broker closes the producer’s connection mid-run: it reconnects, republishes what was unconfirmed with the same ids, and its CSV lists every message once', async () => {
    const queue = uniqueName('drill-producer');
    // Small messages, many of them: the run outlasts the wait for its connection in the management API.
    const p = producer(queue, 200_000, 'a', ['--size', '100']);
    const connection = await connectionNamed(node.managementUrl, 'lesson 05 producer 0');
    await eventually(async () => (await ready(node.amqpUrl, queue)).messages >= 1000, '1000 messages');
    expect(p.child.exitCode).toBeNull(); // still running: the cut lands mid-run
    const cut = Date.now();
    await closeConnection(node.managementUrl, connection);
    await within(60, p, p.waitFor(/reconnected to/));
    const recoverMs = Date.now() - cut;
    const exit = await within(180, p, p.exited);
    const { confirmed, left, lost, duplicates } = await tally(queue, exit.stdout, []);
    const republished = Number(/(\d+) republished/.exec(exit.stderr)?.[1]);
    table.push({
      drill: '(a) producer: connection closed by the broker',
      did: `reconnected, republished ${republished}, exit ${exit.code}`,
      confirmed: confirmed.length,
      consumed: 0,
      duplicates,
      lost: lost.length,
      recoverMs,
    });
    expect(exit.code).toBe(0);
    expect({ rows: confirmed.length, unique: new Set(confirmed).size }).toEqual({
      rows: 200_000,
      unique: 200_000,
    });
    expect(lost).toEqual([]);
    expect(left.length).toBe(200_000 + duplicates); // the queue holds each confirmed id, some twice
    expect(duplicates).toBeLessThanOrEqual(republished);
    expect(exit.stderr).toMatch(/producer: 200000 messages of 100 B confirmed .*1 reconnect/);
    expectQuiet(p);
  });

  test('(a) the broker closes the consumer’s connection mid-run: it reconnects and stops at exactly --count, nothing lost', async () => {
    const queue = uniqueName('drill-consumer');
    const c = consumer(queue, ['--count', '30000']);
    const connection = await connectionNamed(node.managementUrl, 'lesson 05 consumer 0');
    const p = producer(queue, 30_000, 'ac');
    await eventually(async () => rows(c) >= 4000, 'the consumer’s first 4000 rows');
    const cut = Date.now();
    await closeConnection(node.managementUrl, connection);
    await within(60, c, c.waitFor(/reconnected to/));
    const recoverMs = Date.now() - cut;
    const [produced, consumed] = await Promise.all([within(120, p, p.exited), within(120, c, c.exited)]);
    const {
      confirmed,
      handled: [handled = []],
      left,
      lost,
      duplicates,
    } = await tally(queue, produced.stdout, [consumed.stdout]);
    table.push({
      drill: '(a) consumer: connection closed by the broker',
      did: `reconnected, stopped at --count, exit ${consumed.code}`,
      confirmed: confirmed.length,
      consumed: handled.length,
      duplicates,
      lost: lost.length,
      recoverMs,
    });
    expect([produced.code, consumed.code]).toEqual([0, 0]);
    expect(handled.length).toBe(30_000); // --count exact
    expect(lost).toEqual([]);
    expect(left.length).toBe(duplicates); // what a redelivery took the place of is still queued
    expect(consumed.stderr).toMatch(/\d+ redelivered, 1 reconnect/);
    expectQuiet(p, c);
  });

  test('(b) the broker restarts while both run: both reconnect once it is back and finish; every confirmed id is consumed or queued', async () => {
    const queue = uniqueName('drill-restart');
    const c = consumer(queue, ['--count', '100000']);
    await connectionNamed(node.managementUrl, 'lesson 05 consumer 0');
    const p = producer(queue, 100_000, 'b', ['--size', '100']);
    await eventually(async () => rows(c) >= 4000, 'the consumer’s first 4000 rows');
    await node.ctl(['stop_app']);
    await Promise.all([
      within(60, p, p.waitFor(/lost the connection/)),
      within(60, c, c.waitFor(/lost the connection/)),
    ]);
    await node.ctl(['start_app']);
    const back = Date.now();
    await Promise.all([
      within(90, p, p.waitFor(/reconnected to/)),
      within(90, c, c.waitFor(/reconnected to/)),
    ]);
    const recoverMs = Date.now() - back;
    const [produced, consumed] = await Promise.all([within(180, p, p.exited), within(180, c, c.exited)]);
    const {
      confirmed,
      handled: [handled = []],
      lost,
      duplicates,
    } = await tally(queue, produced.stdout, [consumed.stdout]);
    table.push({
      drill: '(b) producer + consumer: broker restart (stop_app, start_app)',
      did: `both reconnected and finished, exits ${produced.code}/${consumed.code}`,
      confirmed: confirmed.length,
      consumed: handled.length,
      duplicates,
      lost: lost.length,
      recoverMs,
    });
    expect([produced.code, consumed.code]).toEqual([0, 0]);
    expect(new Set(confirmed).size).toBe(100_000);
    expect(handled.length).toBe(100_000);
    expect(lost).toEqual([]);
    expectQuiet(p, c);
  });

  test('(c) a consumer killed with SIGKILL mid-run: a second consumer finishes the queue; every confirmed id is in one of their CSVs', async () => {
    const queue = uniqueName('drill-kill');
    const filler = producer(queue, 20_000, 'c');
    const produced = await within(120, filler, filler.exited);
    expect(produced.code).toBe(0);
    const first = consumer(queue, []);
    await eventually(async () => rows(first) >= 3000, 'the first consumer’s first 3000 rows');
    first.child.kill('SIGKILL');
    const killed = Date.now();
    await first.exited;
    // The broker notices the dead connection and returns its unacked messages to the queue.
    const { messages } = await eventually(async () => {
      const state = await ready(node.amqpUrl, queue);
      return state.consumers === 0 ? state : undefined;
    }, 'the killed consumer gone from the queue');
    const recoverMs = Date.now() - killed;
    const second = consumer(queue, ['--count', `${messages}`]);
    const finished = await within(120, second, second.exited);
    const { confirmed, handled, left, lost, duplicates, consumed } = await tally(queue, produced.stdout, [
      first.stdout,
      finished.stdout,
    ]);
    table.push({
      drill: '(c) consumer killed (SIGKILL), a second one finishes',
      did: `first: ${handled[0]!.length} rows before the kill; second: ${handled[1]!.length}, exit ${finished.code}`,
      confirmed: confirmed.length,
      consumed,
      duplicates,
      lost: lost.length,
      recoverMs,
    });
    expect(finished.code).toBe(0);
    expect(left).toEqual([]);
    expect(lost).toEqual([]);
    expect(consumed).toBe(20_000 + duplicates);
    expectQuiet(second);
  });
});
