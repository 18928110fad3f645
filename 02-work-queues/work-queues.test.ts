// Lesson 02's promises, proven with worker processes run as a learner runs them.
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parseOptions } from '../shared/flags.ts';
import { brokerVersion } from '../test/broker-version.ts';
import { blocks, missingLine } from '../test/readme.ts';
import {
  captureLog,
  eventually,
  expectOneSentence,
  type Running,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
  waitForTotal,
} from '../test/testing.ts';
import { newTask, program as newTaskProgram } from './new-task.ts';

const rabbit = useTestConnection();

async function sendTasks(queue: string, tasks: string[]): Promise<void> {
  await newTask(parseOptions(newTaskProgram, ['--queue', queue, ...tasks]), { log: captureLog().log });
}

function worker(queue: string, name: string, ...flags: string[]): Running {
  return start('02-work-queues/worker', ['--queue', queue, '--name', name, ...flags]);
}

const taskNumbers = (program: Running, verb: 'received' | 'done') =>
  program.matching(new RegExp(`\\] \\w+ ${verb} `)).map((line) => Number(/Task (\d+)/.exec(line)?.[1]));

async function stop(...workers: Running[]) {
  for (const w of workers) w.kill('SIGINT');
  return Promise.all(workers.map((w) => w.exited));
}

describe('work queues', () => {
  test('round robin: with prefetch 0, two workers take turns whatever the tasks cost', async () => {
    const queue = rabbit.own(uniqueName('rr'));
    const flags = ['--prefetch', '0', '--seconds-per-dot', '0.01'];
    const [a, b] = [worker(queue, 'A', ...flags), worker(queue, 'B', ...flags)];
    await Promise.all([a.waitFor(/waiting for tasks/), b.waitFor(/waiting for tasks/)]);
    // Odd tasks cost 20 dots, even ones 1: a fair split of the work would not alternate.
    await sendTasks(
      queue,
      Array.from({ length: 10 }, (_, i) => `Task ${i + 1}${'.'.repeat(i % 2 === 0 ? 20 : 1)}`),
    );
    await waitForTotal([a, b], /\] \w+ done /, 10);
    const exits = await stop(a, b);
    expect(exits.map((e) => e.code)).toEqual([130, 130]);
    const [first, second] = taskNumbers(a, 'done')[0] === 1 ? [a, b] : [b, a];
    expect(taskNumbers(first, 'done')).toEqual([1, 3, 5, 7, 9]);
    expect(taskNumbers(second, 'done')).toEqual([2, 4, 6, 8, 10]);
  });

  test('fair dispatch: with prefetch 1, the fast worker finishes more tasks than the slow one', async () => {
    const queue = rabbit.own(uniqueName('fair'));
    const fast = worker(queue, 'Fast', '--prefetch', '1', '--seconds-per-dot', '0.005');
    const slow = worker(queue, 'Slow', '--prefetch', '1', '--seconds-per-dot', '0.5');
    await Promise.all([fast.waitFor(/waiting for tasks/), slow.waitFor(/waiting for tasks/)]);
    await sendTasks(
      queue,
      Array.from({ length: 12 }, (_, i) => `Task ${i + 1}..`),
    );
    await waitForTotal([fast, slow], /\] \w+ done /, 12);
    await stop(fast, slow);
    const byFast = taskNumbers(fast, 'done');
    const bySlow = taskNumbers(slow, 'done');
    // Every task once; round robin would have given each worker 6.
    expect([...byFast, ...bySlow].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(byFast.length).toBeGreaterThan(2 * bySlow.length);
    expect(bySlow.length).toBeGreaterThanOrEqual(1);
  });

  test('redelivery: a worker killed mid-task (SIGKILL) loses nothing; another worker gets it, marked redelivered', async () => {
    const queue = rabbit.own(uniqueName('redeliver'));
    const doomed = worker(queue, 'Doomed', '--seconds-per-dot', '60');
    await doomed.waitFor(/waiting for tasks/);
    await sendTasks(queue, ['Important task.']);
    await doomed.waitFor(/Doomed received 'Important task\.'/);
    const rescuer = worker(queue, 'Rescuer', '--seconds-per-dot', '0', '--count', '1');
    await rescuer.waitFor(/waiting for tasks/);
    doomed.kill('SIGKILL');
    const exit = await rescuer.exited;
    expect(exit.code).toBe(0);
    expect(rescuer.matching(/received/)).toEqual([" [x] Rescuer received 'Important task.' (redelivered)"]);
    // The README's experiment 3 (which the README test cannot kill -9) shows this line, for worker B.
    const shown = blocks(join(import.meta.dirname, 'README.md')).outputs.find((block) =>
      block.reason?.includes('rescuer'),
    );
    expect(
      missingLine(shown?.body ?? ['(no block)'], exit.stdout + exit.stderr, [/\b(B|Rescuer) received/]),
    ).toBeUndefined();
    expect(doomed.matching(/done/)).toEqual([]);
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(0);
  });

  test('auto-ack loses work: the tasks a killed --no-ack worker held are gone; with acks they come back', async () => {
    const consumersGone = (queue: string) =>
      eventually(
        async () => (await rabbit.channel.checkQueue(queue)).consumerCount === 0,
        `the consumers of ${queue} to go`,
      );
    const tasks = Array.from({ length: 5 }, (_, i) => `Task ${i + 1}.....`);

    const lossy = rabbit.own(uniqueName('noack'));
    await sendTasks(lossy, tasks);
    const careless = worker(lossy, 'Careless', '--no-ack', '--seconds-per-dot', '60', '--debug');
    await careless.waitFor(/holds delivery/, 5); // the broker pushed all five and forgot them
    careless.kill('SIGKILL');
    await careless.exited;
    await consumersGone(lossy);
    const held = careless.matching(/holds delivery/).length - careless.matching(/done/).length;
    const lost =
      tasks.length - careless.matching(/done/).length - (await rabbit.channel.checkQueue(lossy)).messageCount;
    expect(lost).toBeGreaterThan(0);
    expect(lost).toBe(held);

    const safe = rabbit.own(uniqueName('acked'));
    await sendTasks(safe, tasks);
    const careful = worker(safe, 'Careful', '--prefetch', '5', '--seconds-per-dot', '60', '--debug');
    await careful.waitFor(/holds delivery/, 5);
    careful.kill('SIGKILL');
    await careful.exited;
    await consumersGone(safe);
    expect((await rabbit.channel.checkQueue(safe)).messageCount).toBe(tasks.length);
  });

  test('new-task exits only after RabbitMQ confirmed every task, and says so', async () => {
    const queue = rabbit.own(uniqueName('confirm'));
    const exit = await runProgram('02-work-queues/new-task', [
      '--queue',
      queue,
      '--count',
      '50',
      '--dots',
      '3',
    ]);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('RabbitMQ confirmed all 50 tasks.');
    const { messageCount } = await rabbit.channel.checkQueue(queue);
    expect(messageCount).toBe(50);
  });

  test('--no-ack --count: the worker stops at the count and says exactly how many tasks it received past it and lost', async () => {
    const queue = rabbit.own(uniqueName('noack-count'));
    await sendTasks(queue, ['Task 1', 'Task 2', 'Task 3', 'Task 4', 'Task 5']);
    const exit = await runProgram('02-work-queues/worker', [
      '--queue',
      queue,
      '--no-ack',
      '--count',
      '2',
      '--seconds-per-dot',
      '0',
    ]);
    expect(exit.code).toBe(0);
    expect(exit.stderr.match(/ done '/g)).toHaveLength(2);
    const lost = Number(
      / \[!\] (\d+) messages? arrived after --count 2 and (is|are) lost/.exec(exit.stderr)?.[1] ?? 0,
    );
    const left = (await rabbit.channel.checkQueue(queue)).messageCount;
    expect(lost + left).toBe(3); // every task is done, in the queue, or reported lost: none vanishes silently
  });

  test('with prefetch above what is left of --count, the worker stops at the count and the rest stay in the queue for the next worker', async () => {
    const queue = rabbit.own(uniqueName('prefetch-count'));
    await sendTasks(
      queue,
      Array.from({ length: 10 }, (_, i) => `Task ${i + 1}`),
    );
    const exit = await runProgram('02-work-queues/worker', [
      '--queue',
      queue,
      '--prefetch',
      '10',
      '--count',
      '3',
      '--seconds-per-dot',
      '0',
    ]);
    expect(exit.code).toBe(0);
    expect(exit.stderr.match(/ done '/g)).toHaveLength(3);
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(7);
    // Given back with one nack each while the consumer was being cancelled: the next worker gets all seven.
    const next = await runProgram('02-work-queues/worker', [
      '--queue',
      queue,
      '--count',
      '7',
      '--seconds-per-dot',
      '0',
    ]);
    expect(next.stderr.match(/ received '/g)).toHaveLength(7);
  });

  test('an old classic task_queue redeclared as quorum ends in the 406 sentence, and --queue-type classic uses it as it is', async () => {
    const queue = rabbit.own(uniqueName('old-classic'));
    await rabbit.channel.assertQueue(queue, { durable: true }); // what older programs and tutorials declared
    const quorum = await runProgram('02-work-queues/worker', ['--queue', queue, '--count', '1']);
    expect(quorum.code).toBe(1);
    expect(quorum.stderr).toContain(
      `The queue '${queue}' already exists with other settings (x-queue-type is`,
    );
    expect(quorum.stderr).toContain(`rabbitmqctl delete_queue ${queue}`);
    expect(expectOneSentence(quorum.stderr)).toEqual([]);
    const classic = await runProgram('02-work-queues/new-task', [
      '--queue',
      queue,
      '--queue-type',
      'classic',
      '--message',
      'kept',
    ]);
    expect(classic.code).toBe(0);
    const worker = await runProgram('02-work-queues/worker', [
      '--queue',
      queue,
      '--queue-type',
      'classic',
      '--count',
      '1',
      '--seconds-per-dot',
      '0',
    ]);
    expect(worker.stderr).toContain("done 'kept'");
  });

  test('a poison task that is always requeued: RabbitMQ 4 drops it after 20 redeliveries (dead-lettered when a DLQ is set); 3.10 has no limit unless you set one', async () => {
    const queue = rabbit.own(uniqueName('poison'));
    const dead = rabbit.own(uniqueName('poison-dlq'));
    const { major } = brokerVersion(rabbit.connection);
    await rabbit.channel.assertQueue(dead, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await rabbit.channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': dead,
      },
    });
    rabbit.channel.sendToQueue(queue, Buffer.from('poison'), { persistent: true });
    await rabbit.channel.waitForConfirms();
    const channel = await rabbit.connection.createChannel();
    let deliveries = 0;
    for (let i = 0; i < 25; i++) {
      const message = await eventually(
        async () => (await channel.get(queue)) || undefined,
        'the poison task',
        5,
      ).catch(() => undefined);
      if (!message) break;
      deliveries++;
      // "This one failed": back to the queue, again and again. basic.reject counts as a failed delivery;
      // from 4.3, basic.nack does not (it says "not processed"), so only reject reaches the limit.
      channel.reject(message, true);
    }
    await channel.close();
    if (major >= 4) {
      // The default delivery-limit of 4.x is 20: the first delivery and 20 redeliveries, then it is
      // dead-lettered (dropped, without a dead-letter queue).
      expect(deliveries).toBe(21);
      const caught = await eventually(
        async () => (await rabbit.channel.checkQueue(dead)).messageCount || undefined,
        'the dead-letter queue',
      );
      expect(caught).toBe(1);
    } else {
      expect(deliveries).toBe(25); // no default limit on 3.10: it would come back for ever
      expect((await rabbit.channel.checkQueue(dead)).messageCount).toBe(0);
    }
  });

  test('a task_queue declared non-durable earlier ends in the 406 sentence, not a stack trace', async () => {
    const queue = rabbit.own(uniqueName('not-durable'));
    await rabbit.channel.assertQueue(queue, { durable: false });
    const exit = await runProgram('02-work-queues/worker', ['--queue', queue]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(
      `The queue '${queue}' already exists with other settings (durable is 'false'`,
    );
  });
});
