// Lesson 11's fault drills on a private RabbitMQ node (slot 12): 1,000 tasks (10 % flaky 2, 1 %
// poison) while the worker's connection is closed by the broker, or the broker restarts, with
// tasks waiting in the retry queues. Each drill counts: 990 distinct tasks done, 10 parked, 0 lost.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { usePrivateBroker } from '../test/private-broker.ts';
import {
  closeConnection,
  connectionNamed,
  eventually,
  type Running,
  runProgram,
  start,
  stopAll,
  uniqueName,
  waitForTotal,
  within,
} from '../test/testing.ts';
import { names } from './topology.ts';

const node = usePrivateBroker(12, ['collect_statistics_interval = 500']);
const env = () => ({ AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl });
// The restart drill waits longer in its retry queues, so the restart surely finds tasks there.
const DELAYS = { close: [500, 1000], restart: [3000, 4000] };

const table: string[] = [];
afterEach(stopAll);
afterAll(() => {
  process.stderr.write(
    `\n| drill | sent | done (distinct) | done lines | parked (distinct) | in the lot | retries | lost |\n|---|---:|---:|---:|---:|---:|---:|---:|\n${table.join('\n')}\n`,
  );
});

/** The failing tasks first, so they sit in the retry queues while the fault lands. */
async function send(queue: string) {
  for (const [count, kind] of [
    ['100', 'flaky 2: send mail'],
    ['10', 'poison: bad row'],
    ['890', 'resize photo'],
  ] as const) {
    const exit = await runProgram(
      '11-dead-letters/new-task',
      ['--queue', queue, '--count', count, kind],
      env(),
    );
    expect(exit.code).toBe(0);
  }
}

const distinct = (w: Running, pattern: RegExp) =>
  new Set(w.matching(pattern).map((line) => /'([^']+)'/.exec(line)?.[1])).size;

async function settle(drill: string, queue: string, w: Running, delays: number[]) {
  // At least once: a task may be done (or parked) twice around the fault, never not at all.
  await within(
    120,
    w,
    eventually(
      async () => distinct(w, / \[x\] W done '/) === 990 && distinct(w, / \[✗\] W parked '/) === 10,
      '990 distinct tasks done and 10 parked',
      120,
    ),
  );
  const connection = await amqp.connect(node.amqpUrl);
  try {
    const channel = await connection.createChannel();
    const n = names(queue);
    let waiting = (await channel.checkQueue(queue)).messageCount;
    for (const ms of delays) waiting += (await channel.checkQueue(n.retry(ms))).messageCount;
    const lot = (await channel.checkQueue(n.parking)).messageCount;
    const retries = w.matching(/ \[!\] W failed '.*retry in/).length;
    const doneLines = w.matching(/ \[x\] W done '/).length;
    table.push(`| ${drill} | 1000 | 990 | ${doneLines} | 10 | ${lot} | ${retries} | ${waiting} |`);
    expect(waiting).toBe(0);
    expect(lot).toBeGreaterThanOrEqual(10);
    for (const q of [queue, n.parking, ...delays.map((ms) => n.retry(ms))]) await channel.deleteQueue(q);
    await channel.deleteExchange(n.dlx);
  } finally {
    await connection.close();
  }
}

async function inRetryQueues(queue: string, delays: number[]): Promise<number> {
  const connection = await amqp.connect(node.amqpUrl);
  try {
    const channel = await connection.createChannel();
    let total = 0;
    for (const ms of delays) total += (await channel.checkQueue(names(queue).retry(ms))).messageCount;
    return total;
  } finally {
    await connection.close();
  }
}

const worker = (queue: string, delays: number[]) =>
  start(
    '11-dead-letters/worker',
    ['--queue', queue, '--name', 'W', '--retry-delays', delays.map((ms) => ms / 1000).join(',')],
    env(),
  );

describe('lesson 11 under faults', () => {
  test('the worker’s connection closed by the broker mid-run: it reconnects; 990 done, 10 parked, 0 lost', async () => {
    const queue = uniqueName('drill-dl-close');
    const w = worker(queue, DELAYS.close);
    await w.waitFor(/waiting for tasks/);
    await send(queue);
    const connection = await connectionNamed(node.managementUrl, 'lesson 11 worker W');
    await waitForTotal([w], / \[x\] W done '/, 300);
    await closeConnection(node.managementUrl, connection);
    await within(60, w, w.waitFor(/Reconnected to .*; consuming from/));
    await settle('the worker’s connection closed', queue, w, DELAYS.close);
  });

  test('the broker restarted mid-run, tasks in the retry queues: the same totals (at-least-once dead-lettering)', async () => {
    const queue = uniqueName('drill-dl-restart');
    const w = worker(queue, DELAYS.restart);
    await w.waitFor(/waiting for tasks/);
    await send(queue);
    // Fifty first failures are in the 3 s retry queue: the restart finds tasks waiting there.
    await waitForTotal([w], / \[!\] W failed '.*retry in/, 50);
    expect(await inRetryQueues(queue, DELAYS.restart)).toBeGreaterThan(0);
    await node.ctl(['stop_app']);
    await node.ctl(['start_app']);
    await within(120, w, w.waitFor(/Reconnected to .*; consuming from/));
    await settle('the broker restarted', queue, w, DELAYS.restart);
  });
});
