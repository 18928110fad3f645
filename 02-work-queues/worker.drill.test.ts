// Lesson 02's fault drills, on a private RabbitMQ node (slot 0) so the learner's broker is never
// stopped: durability across a restart, and the worker surviving a closed connection, a broker
// restart and its node's death (failover to the next node of AMQP_URL).
import { describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { usePrivateBroker } from '../test/private-broker.ts';
import { defineDrills, sendPastLimit, sendWith } from '../test/scenes/consumer-drills.ts';
import { runProgram, start, uniqueName } from '../test/testing.ts';

const node = usePrivateBroker(0);
const env = () => ({ AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl });

describe('durability', () => {
  test('persistent tasks in a durable queue survive a broker restart; a transient queue does not; a waiting worker reconnects', async () => {
    const [durable, classic, transient, live] = ['durable', 'classic', 'transient', 'live'].map(uniqueName);
    const sent = await runProgram(
      '02-work-queues/new-task',
      ['--queue', durable!, '--count', '5', '--dots', '0'],
      env(),
    );
    expect(sent.code).toBe(0);
    const sentClassic = await runProgram(
      '02-work-queues/new-task',
      ['--queue', classic!, '--queue-type', 'classic', '--count', '5', '--dots', '0'],
      env(),
    );
    expect(sentClassic.code).toBe(0);
    const before = await amqp.connect(node.amqpUrl);
    const channel = await before.createConfirmChannel();
    await channel.assertQueue(transient!, { durable: false });
    channel.sendToQueue(transient!, Buffer.from('forgotten'));
    await channel.waitForConfirms();
    const waiting = start(
      '02-work-queues/worker',
      ['--queue', live!, '--name', 'Survivor', '--seconds-per-dot', '0', '--count', '1'],
      env(),
    );
    await waiting.waitFor(/waiting for tasks/);

    await node.ctl(['stop_app']);
    await node.ctl(['start_app']);

    for (const [queue, type] of [
      [durable!, 'quorum'],
      [classic!, 'classic'],
    ] as const) {
      const drained = await runProgram(
        '02-work-queues/worker',
        ['--queue', queue, '--queue-type', type, '--seconds-per-dot', '0', '--count', '5', '--name', 'After'],
        env(),
      );
      expect({ code: drained.code, stderr: drained.stderr }).toMatchObject({ code: 0 });
      expect(drained.stderr.match(/After done 'Task \d'/g)).toHaveLength(5);
    }

    await waiting.waitFor(/Reconnected/);
    const late = await runProgram(
      '02-work-queues/new-task',
      ['--queue', live!, '--message', 'after the restart'],
      env(),
    );
    expect(late.code).toBe(0);
    expect((await waiting.exited).code).toBe(0);
    expect(waiting.matching(/Survivor done/)).toEqual([" [x] Survivor done 'after the restart'"]);

    const after = await amqp.connect(node.amqpUrl);
    const check = await after.createChannel();
    check.on('error', () => {});
    await expect(check.checkQueue(transient!)).rejects.toThrow(/NOT_FOUND/);
    const cleanup = await after.createChannel();
    for (const queue of [durable!, classic!, live!]) await cleanup.deleteQueue(queue);
    await after.close();
    await before.close().catch(() => {});
  });
});

describe('confirms', () => {
  test('new-task says "confirmed" and exits 0 only when the broker confirmed: a queue that refuses tasks ends in the nack sentence', async () => {
    // A policy makes the queue refuse (nack) what is past 10 messages; the tasks are sent in a burst,
    // so a new-task that did not wait for confirms would still say "confirmed all 50" and exit 0.
    const { exit, queue, held } = await sendPastLimit(node, '02-work-queues/new-task', (queue) => [
      ...['--queue', queue, '--queue-type', 'classic', '--count', '50', '--dots', '0'],
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).not.toContain('RabbitMQ confirmed all');
    expect(exit.stderr).toContain(`RabbitMQ refused some of the tasks (nack): check ${queue}'s length limit`);
    expect(held).toBe(10);
  });
});

describe('the worker under faults', () => {
  defineDrills(
    {
      program: '02-work-queues/worker',
      connectionName: (name) => `lesson 02 worker ${name}`,
      send: (queue, tasks, env, flags = []) =>
        sendWith(
          '02-work-queues/new-task',
          ['--queue', queue, ...flags, ...tasks],
          env,
          /confirmed all (\d+) task/,
        ),
      doneTasks: (worker) => worker.matching(/\] \w+ done '/).map((line) => /done '(.*)'/.exec(line)![1]!),
      donePattern: /\] \w+ done '/,
    },
    node,
  );
});
