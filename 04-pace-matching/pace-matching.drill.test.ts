// Fault drills for lesson 04's three programs, on a private RabbitMQ node (slot 3) so the learner's
// broker is never closed, restarted or killed. Each drill counts what was confirmed against what
// was consumed or is still queued, the duplicates, and how long the program took to carry on.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { brokerUrls } from '../shared/connection.ts';
import { usePrivateBroker } from '../test/private-broker.ts';
import {
  connectionOf,
  drainPaced,
  fill,
  managementUp,
  missing,
  printedBadly,
  recoverySeconds,
  reportAge,
  startOn,
} from '../test/scenes/04-pace-matching.ts';
import { stopAll, uniqueName, within } from '../test/testing.ts';

const node = usePrivateBroker(3);
const table: string[] = [];
afterEach(stopAll);
afterAll(() => {
  if (table.length) console.log(['drill | what the program did | counts', ...table].join('\n'));
});

const N = 4000;
const producerArgs = (queue: string, more: string[] = []) => [
  ...['--queue', queue, '--count', String(N), '--rate', '500', '--status-seconds', '0.25'],
  ...['--events-exchange', `${queue}.events`, ...more],
];
const confirmedAtLeast = (n: number) => new RegExp(`total ([1-9]\\d{${String(n).length - 1},})$`);

describe('fast-producer drills', () => {
  test('the broker closes its connection mid-run: it reconnects, republishes what was unconfirmed, and every confirmed message is in the queue', async () => {
    const queue = uniqueName('drill-close');
    const producer = startOn(node, 'fast-producer', producerArgs(queue));
    const connection = await connectionOf(node, producer, 'lesson 04 fast-producer');
    await producer.waitFor(confirmedAtLeast(1000));
    await connection.close();
    const exit = await producer.exited;
    const counted = await drainPaced(node.amqpUrl, queue);
    const seconds = recoverySeconds(producer);
    table.push(
      `connection closed | reconnected after ${seconds} s, finished | confirmed ${N}, in queue ${counted.ids.length}, missing ${missing(counted.unique, N).length}, duplicates ${counted.duplicates}`,
    );
    expect(exit.code).toBe(0);
    expect(producer.matching(/messages confirmed/)).toEqual([
      expect.stringMatching(` ${N} messages confirmed`),
    ]);
    expect(producer.matching(/the queue is full/)).toEqual([]); // a lost connection is not a nack
    expect(missing(counted.unique, N)).toEqual([]);
    expect(counted.unique.size).toBe(N);
    expect(counted.duplicates).toBeLessThanOrEqual(200); // at most what was in flight: 4 batches of 50
    expect(seconds).toBeLessThan(10);
    expect(printedBadly(producer)).toEqual([]);
  });

  test('the broker restarts (stop_app … start_app) mid-run: it reconnects when the broker is back and finishes', async () => {
    const queue = uniqueName('drill-restart');
    const producer = startOn(node, 'fast-producer', producerArgs(queue));
    await producer.waitFor(confirmedAtLeast(1000));
    await node.ctl(['stop_app']);
    await producer.waitFor(/Lost the connection/);
    await node.ctl(['start_app']);
    const exit = await producer.exited;
    const counted = await drainPaced(node.amqpUrl, queue);
    const seconds = recoverySeconds(producer);
    table.push(
      `broker restart | reconnected after ${seconds} s, finished | confirmed ${N}, in queue ${counted.ids.length}, missing ${missing(counted.unique, N).length}, duplicates ${counted.duplicates}`,
    );
    expect(exit.code).toBe(0);
    expect(producer.matching(/the queue is full/)).toEqual([]);
    expect(missing(counted.unique, N)).toEqual([]);
    expect(counted.duplicates).toBeLessThanOrEqual(200);
    expect(printedBadly(producer)).toEqual([]);
  });

  test('its node dies with a node list in AMQP_URL: it fails over to the next node and finishes; what the dead node confirmed is on its disk', async () => {
    const queue = uniqueName('drill-failover');
    const main = brokerUrls()[0]!;
    const producer = startOn(node, 'fast-producer', producerArgs(queue), [node.amqpUrl, main]);
    try {
      await producer.waitFor(confirmedAtLeast(1000));
      await node.kill();
      const exit = await producer.exited;
      const onMain = await drainPaced(main, queue);
      await node.start();
      const onDead = await drainPaced(node.amqpUrl, queue);
      const ids = new Set([...onMain.unique, ...onDead.unique]);
      const duplicates = onMain.ids.length + onDead.ids.length - ids.size;
      const seconds = recoverySeconds(producer);
      table.push(
        `node killed, list of 2 | failed over after ${seconds} s, finished | confirmed ${N}, on the dead node ${onDead.ids.length} + on the next ${onMain.ids.length}, missing ${missing(ids, N).length}, duplicates ${duplicates}`,
      );
      expect(exit.code).toBe(0);
      expect(producer.matching(/Reconnected to amqp:\/\/guest:\*\*\*@localhost:5672/).length).toBe(1);
      expect(missing(ids, N)).toEqual([]);
      expect(duplicates).toBeLessThanOrEqual(200);
      expect(printedBadly(producer)).toEqual([]);
    } finally {
      await node.start();
      await drainPaced(main, queue).catch(() => {}); // when the drill failed before counting
    }
  });

  test('its only node dies: it ends within --reconnect-seconds with one sentence that counts what was confirmed, exit 1', async () => {
    const queue = uniqueName('drill-gone');
    const producer = startOn(node, 'fast-producer', producerArgs(queue, ['--reconnect-seconds', '3']));
    try {
      await producer.waitFor(confirmedAtLeast(1000));
      const killedAt = Date.now();
      await node.kill();
      const exit = await producer.exited;
      const seconds = (Date.now() - killedAt) / 1000;
      const last = producer.lines.at(-1) ?? '';
      table.push(
        `only node killed | ended after ${seconds.toFixed(1)} s: ${last.slice(0, 90)}… | exit ${exit.code}`,
      );
      expect(exit.code).toBe(1);
      expect(last).toMatch(
        /no node of amqp:\/\/.* answered within 3 s .*; \d+ messages were confirmed before that/,
      );
      expect(seconds).toBeLessThan(20);
      expect(printedBadly(producer)).toEqual([]);
    } finally {
      await node.start();
      await drainPaced(node.amqpUrl, queue).catch(() => {});
    }
  });
});

const C = 1500;
const consumerArgs = (queue: string, count: number) => [
  ...['--queue', queue, '--count', String(count), '--rate', '200', '--status-seconds', '0.25'],
  ...['--events-exchange', `${queue}.events`],
];

/** A moment to measure from: the seconds until a line matching `pattern` is printed after it. */
function mark(program: ReturnType<typeof startOn>) {
  const at = performance.now();
  const linesBefore = program.lines.length;
  return {
    async secondsUntil(pattern: RegExp) {
      const before = program.lines.slice(0, linesBefore).filter((line) => pattern.test(line)).length;
      await program.waitFor(pattern, before + 1);
      return ((performance.now() - at) / 1000).toFixed(2);
    },
  };
}

describe('slow-consumer drills', () => {
  test('the broker closes its connection mid-run: it consumes again on a new connection and stops at exactly --count', async () => {
    const queue = uniqueName('drill-consumer-close');
    await fill(node.amqpUrl, queue, C);
    const consumer = startOn(node, 'slow-consumer', consumerArgs(queue, C));
    const connection = await connectionOf(node, consumer, 'lesson 04 slow-consumer');
    await consumer.waitFor(/total ([3-9]\d\d|\d{4,})/);
    const since = mark(consumer);
    await connection.close();
    const seconds = await since.secondsUntil(/total/);
    const exit = await consumer.exited;
    const left = await drainPaced(node.amqpUrl, queue);
    // Each message handled twice (its ack lost with the connection) leaves one other message unhandled.
    table.push(
      `consumer, connection closed | consumed again after ${seconds} s, stopped at --count | queued ${C}, consumed ${C}, left ${left.ids.length}, duplicates ${left.ids.length}`,
    );
    expect(exit.code).toBe(0);
    expect(consumer.matching(/ \[✓\] /)).toEqual([
      expect.stringMatching(new RegExp(`^ \\[✓\\] ${C} processed`)),
    ]);
    expect(consumer.matching(/Reconnected/).length).toBe(1);
    expect(left.ids.length).toBeLessThanOrEqual(20); // at most a prefetch's worth handled twice
    expect(printedBadly(consumer)).toEqual([]);
  });

  test('the broker restarts mid-run: it consumes again when the broker is back and stops at exactly --count', async () => {
    const queue = uniqueName('drill-consumer-restart');
    await fill(node.amqpUrl, queue, C);
    const consumer = startOn(node, 'slow-consumer', consumerArgs(queue, C));
    await consumer.waitFor(/total ([3-9]\d\d|\d{4,})/);
    const since = mark(consumer);
    await node.ctl(['stop_app']);
    await node.ctl(['start_app']);
    // Bounded, so a consumer that never comes back fails here with what it printed, not at jest's 300 s.
    const seconds = await within(120, consumer, since.secondsUntil(/Reconnected/));
    const exit = await within(120, consumer, consumer.exited);
    const left = await drainPaced(node.amqpUrl, queue);
    table.push(
      `consumer, broker restart | consumed again ${seconds} s after the stop, stopped at --count | queued ${C}, consumed ${C}, left ${left.ids.length}, duplicates ${left.ids.length}`,
    );
    expect(exit.code).toBe(0);
    expect(consumer.matching(/ \[✓\] /)).toEqual([
      expect.stringMatching(new RegExp(`^ \\[✓\\] ${C} processed`)),
    ]);
    expect(left.ids.length).toBeLessThanOrEqual(20);
    expect(printedBadly(consumer)).toEqual([]);
  });

  test('its node dies with a node list: it fails over to the next node, consumes there, and stops at exactly --count', async () => {
    await managementUp(node);
    const queue = uniqueName('drill-consumer-failover');
    const main = brokerUrls()[0]!;
    await fill(node.amqpUrl, queue, 1000);
    await fill(main, queue, C, 1001); // enough there to finish --count whenever the kill comes
    const consumer = startOn(node, 'slow-consumer', consumerArgs(queue, C), [node.amqpUrl, main]);
    try {
      await consumer.waitFor(/total ([3-9]\d\d)/);
      const since = mark(consumer);
      await node.kill();
      const seconds = await since.secondsUntil(/Reconnected/);
      const exit = await consumer.exited;
      const onMain = await drainPaced(main, queue);
      await node.start();
      const onDead = await drainPaced(node.amqpUrl, queue);
      const fromMain = C - onMain.ids.length;
      const fromDead = C - fromMain;
      // A killed node may not have written every ack to disk: what it holds again after its restart
      // beyond the unconsumed rest was consumed once already (at-least-once, not a loss).
      const backAfterCrash = onDead.ids.length - (1000 - fromDead);
      table.push(
        `consumer, node killed, list of 2 | failed over after ${seconds} s, stopped at --count | queued 1000 + ${C}, consumed ${fromDead} on the killed node + ${fromMain} on the next = ${C}, left ${onDead.ids.length} + ${onMain.ids.length}; acked yet back after the crash: ${backAfterCrash}`,
      );
      expect(exit.code).toBe(0);
      expect(consumer.matching(/ \[✓\] /)).toEqual([
        expect.stringMatching(new RegExp(`^ \\[✓\\] ${C} processed`)),
      ]);
      expect(fromDead).toBeGreaterThan(0);
      expect(backAfterCrash).toBeGreaterThanOrEqual(0); // nothing unacked was lost
      expect(printedBadly(consumer)).toEqual([]);
    } finally {
      await node.start();
      await drainPaced(main, queue).catch(() => {});
    }
  });
});

describe('monitor drills', () => {
  const monitorArgs = (queue: string) => [
    ...[
      '--queue',
      queue,
      '--events-exchange',
      `${queue}.events`,
      '--interval',
      '0.25',
      '--port',
      '0',
      '--plain',
    ],
  ];
  const ages = async (url: string) =>
    Number(/^pace_message_age_seconds_count (\S+)$/m.exec(await (await fetch(url)).text())?.[1] ?? 0);
  const metricsOf = async (monitor: ReturnType<typeof startOn>) =>
    /(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(await monitor.waitFor(/Prometheus metrics at/))![1]!;

  test('the broker closes its connection: it hears events again on a new channel and keeps sampling', async () => {
    await managementUp(node);
    const queue = uniqueName('drill-monitor-close');
    const monitor = startOn(node, 'monitor', monitorArgs(queue));
    const url = await metricsOf(monitor);
    await reportAge(node.amqpUrl, `${queue}.events`, 1);
    while ((await ages(url)) < 1) await monitor.waitFor(/depth=/, monitor.matching(/depth=/).length + 1);
    const connection = await connectionOf(node, monitor, 'lesson 04 monitor');
    const since = mark(monitor);
    await connection.close();
    const seconds = await since.secondsUntil(/Reconnected/);
    await reportAge(node.amqpUrl, `${queue}.events`, 2);
    while ((await ages(url)) < 2) await monitor.waitFor(/depth=/, monitor.matching(/depth=/).length + 1);
    await monitor.waitFor(/depth=\d+ /, monitor.matching(/depth=\d+ /).length + 2);
    monitor.kill('SIGINT');
    const exit = await monitor.exited;
    await drainPaced(node.amqpUrl, queue);
    table.push(
      `monitor, connection closed | reconnected after ${seconds} s, events and depth again | events 2 sent, 2 counted`,
    );
    expect(exit.code).toBe(130);
    expect(printedBadly(monitor)).toEqual([]);
  });

  test('the broker restarts: depth and management figures show the outage once, then come back', async () => {
    await managementUp(node);
    const queue = uniqueName('drill-monitor-restart');
    const monitor = startOn(node, 'monitor', monitorArgs(queue));
    const url = await metricsOf(monitor);
    await monitor.waitFor(/depth=0 /);
    const since = mark(monitor);
    await node.ctl(['stop_app']);
    await monitor.waitFor(/depth=\? /);
    await node.ctl(['start_app']);
    const seconds = await since.secondsUntil(/depth=\d+ /);
    await since.secondsUntil(/Reconnected/);
    await reportAge(node.amqpUrl, `${queue}.events`, 1);
    while ((await ages(url)) < 1) await monitor.waitFor(/depth=/, monitor.matching(/depth=/).length + 1);
    monitor.kill('SIGINT');
    const exit = await monitor.exited;
    await drainPaced(node.amqpUrl, queue);
    table.push(
      `monitor, broker restart | 'depth=?' while down, figures again ${seconds} s after the stop | logged: ${monitor.matching(/Cannot read the depth|answers again|management API/).join(' / ')}`,
    );
    expect(exit.code).toBe(130);
    // Each problem is logged once, when it starts (a queue not yet recovered is a second one).
    const problems = monitor.matching(/Cannot read the depth/);
    expect(new Set(problems).size).toBe(problems.length);
    expect(printedBadly(monitor)).toEqual([]);
  });

  test('its node dies with a node list: it reads the depth from the next node', async () => {
    await managementUp(node);
    const queue = uniqueName('drill-monitor-failover');
    const main = brokerUrls()[0]!;
    const monitor = startOn(node, 'monitor', monitorArgs(queue), [node.amqpUrl, main]);
    try {
      await metricsOf(monitor);
      await monitor.waitFor(/depth=0 /);
      await fill(main, queue, 7);
      const since = mark(monitor);
      await node.kill();
      const seconds = await since.secondsUntil(/depth=7 /);
      monitor.kill('SIGINT');
      const exit = await monitor.exited;
      table.push(
        `monitor, node killed, list of 2 | reads the next node's depth after ${seconds} s | depth 7 of 7`,
      );
      expect(exit.code).toBe(130);
      expect(printedBadly(monitor)).toEqual([]);
    } finally {
      await node.start();
      await drainPaced(main, queue).catch(() => {});
    }
  });
});
