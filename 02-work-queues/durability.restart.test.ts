// Durability: persistent tasks in a durable queue survive a broker restart. This file restarts
// RabbitMQ, so npm test runs it alone, after every other test.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { maskUrl, settings } from '../shared/config.ts';
import { runProgram, start, stopAll, testBroker, uniqueName } from '../shared/testing.ts';

const url = settings().amqpUrls[0]!;
const rabbitmqctl = (...args: string[]) =>
  execFileSync('rabbitmqctl', args, { stdio: 'pipe', timeout: 120_000 });

beforeAll(() => {
  const host = new URL(url).hostname;
  if (!['localhost', '127.0.0.1', '::1'].includes(host)) {
    throw new Error(
      `The durability test restarts the broker with rabbitmqctl, which it cannot do for the remote broker at ${maskUrl(url)}: run it against a local broker (unset AMQP_URL).`,
    );
  }
  try {
    rabbitmqctl('status');
  } catch {
    throw new Error(
      'The durability test restarts the broker with rabbitmqctl, which is not installed or cannot reach the local node: install rabbitmq-server or run npm run services.',
    );
  }
});
afterAll(stopAll);

test('persistent tasks in a durable queue survive a broker restart; a transient queue does not; a waiting worker reconnects', async () => {
  const durable = uniqueName('durable');
  const transient = uniqueName('transient');
  const live = uniqueName('live');

  const sent = await runProgram('02-work-queues/new-task', [
    '--queue',
    durable,
    '--count',
    '5',
    '--dots',
    '0',
  ]);
  expect(sent.code).toBe(0);
  const before = await testBroker();
  await before.channel.assertQueue(transient, { durable: false });
  before.channel.sendToQueue(transient, Buffer.from('forgotten'));
  await before.channel.waitForConfirms();
  const waiting = start('02-work-queues/worker', [
    '--queue',
    live,
    '--name',
    'Survivor',
    '--seconds-per-dot',
    '0',
    '--count',
    '1',
  ]);
  await waiting.waitFor(/waiting for tasks/);

  rabbitmqctl('stop_app');
  rabbitmqctl('start_app');
  rabbitmqctl('await_startup');

  const drained = await runProgram('02-work-queues/worker', [
    '--queue',
    durable,
    '--seconds-per-dot',
    '0',
    '--count',
    '5',
    '--name',
    'After',
  ]);
  expect(drained.code).toBe(0);
  expect(drained.stderr.match(/After done 'Task \d'/g)).toHaveLength(5);

  await waiting.waitFor(/Reconnected/);
  expect(
    (await runProgram('02-work-queues/new-task', ['--queue', live, '--message', 'after the restart'])).code,
  ).toBe(0);
  expect((await waiting.exited).code).toBe(0);
  expect(waiting.matching(/Survivor done/)).toEqual([" [x] Survivor done 'after the restart'"]);

  const after = await amqp.connect(url);
  const channel = await after.createChannel();
  channel.on('error', () => {});
  await expect(channel.checkQueue(transient)).rejects.toThrow(/NOT_FOUND/);
  const cleanup = await after.createChannel();
  for (const queue of [durable, live]) await cleanup.deleteQueue(queue);
  await after.close();
  await before.connection.close().catch(() => {});
});
