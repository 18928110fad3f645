// A learner's queue mistakes get a sentence (queues.ts): a producer on a queue that did not exist
// or that nobody reads, a consumer on a queue nobody has sent to.
import { describe, expect, test } from '@jest/globals';
import { runProgram, start, uniqueName, useTestConnection, within } from '../test/testing.ts';

const rabbit = useTestConnection();

describe('queue mistakes get a sentence', () => {
  test('new-task on a queue that did not exist: its first line says so, and that the tasks wait for a worker', async () => {
    const queue = rabbit.own(uniqueName('task_qeue3'));
    const exit = await runProgram('02-work-queues/new-task', ['--queue', queue, '--count', '1']);
    expect(exit.code).toBe(0);
    expect(exit.stderr.split('\n')[0]).toMatch(
      new RegExp(
        `^Queue ${queue} did not exist: created it\\. Nobody reads it yet: its tasks wait until a worker starts on ${queue}\\. \\(pid \\d+\\)$`,
      ),
    );
    // Again: the queue exists now, still without a worker.
    const again = await runProgram('02-work-queues/new-task', ['--queue', queue, '--count', '1']);
    expect(again.stderr.split('\n')[0]).toMatch(
      new RegExp(
        `^Nobody reads ${queue} yet: its tasks wait until a worker starts on ${queue}\\. \\(pid \\d+\\)$`,
      ),
    );
  });

  test('send to a queue a receiver reads: no warning', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    const receiver = start('01-hello-world/receive', ['--queue', queue, '--count', '1']);
    await receiver.waitFor(/Waiting for messages/);
    const exit = await runProgram('01-hello-world/send', ['--queue', queue]);
    expect(exit.stderr).not.toMatch(/did not exist|Nobody reads/);
    expect((await receiver.exited).code).toBe(0);
  });

  test('a worker on a queue nobody has sent to: says it created it, and once after 10 s that nothing came', async () => {
    const queue = rabbit.own(uniqueName('task_qeue3'));
    const worker = start('02-work-queues/worker', ['--queue', queue, '--name', 'A']);
    const first = await within(30, worker, worker.waitFor(/did not exist/));
    expect(first).toMatch(new RegExp(`^Queue ${queue} did not exist: created it\\. \\(pid \\d+\\)$`));
    const note = await within(40, worker, worker.waitFor(/Nothing has arrived/));
    expect(note).toBe(
      `Nothing has arrived on ${queue} in 10 s, and nobody had sent to it before (it did not exist): if new-task is running, check that it sends to ${queue} (the spelling of --queue).`,
    );
    worker.kill('SIGINT');
    const exit = await worker.exited;
    expect(exit.code).toBe(130);
    expect(worker.matching(/Nothing has arrived/)).toHaveLength(1);
  });
});
