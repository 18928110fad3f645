// Lesson 03's fault drills, on a private RabbitMQ node (slot 1) so the learner's broker is never
// stopped: a listening worker survives its connection closed by the broker, a broker restart and its
// node's death (failover to the next node of AMQP_URL), and still stops at exactly --count.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { usePrivateBroker } from '../test/private-broker.ts';
import { defineDrills, sendPastLimit, sendWith } from '../test/scenes/consumer-drills.ts';
import { type Running, uniqueName } from '../test/testing.ts';

const node = usePrivateBroker(1);

/** The CSV the emitter reads: 'Task 1.' becomes the row `Task 1,.`. */
function csvOf(tasks: string[]): string {
  const file = join(tmpdir(), `${uniqueName('drill-tasks')}.csv`);
  writeFileSync(
    file,
    tasks.map((task) => `${task.replace(/\.+$/, '')},${/\.+$/.exec(task)?.[0] ?? ''}`).join('\n'),
  );
  return file;
}

/** A done line names only the row (#N); the received line before it has the task's text. */
function doneTasks(worker: Running): string[] {
  const text = new Map<string, string>();
  const done: string[] = [];
  for (const line of worker.lines) {
    const received = / received (#\d+) (.*?) \.* at \d/.exec(line);
    if (received) text.set(received[1]!, received[2]!);
    const finished = / done (#\d+) at /.exec(line);
    if (finished) done.push(`${text.get(finished[1]!)}.`);
  }
  return done;
}

describe('the listening worker under faults', () => {
  defineDrills(
    {
      program: '03-multiple-consumers/listening-worker',
      connectionName: (name) => `lesson 03 listening-worker ${name}`,
      send: (queue, tasks, env, flags = []) =>
        sendWith(
          '03-multiple-consumers/emitter-of-tasks',
          ['--queue', queue, '--file', csvOf(tasks), '--no-admin', ...flags],
          env,
          /Sent (\d+) rows .* confirmed them all/,
        ),
      doneTasks,
      donePattern: / done #\d+ at /,
    },
    node,
  );
});

describe('confirms', () => {
  test('the emitter says "confirmed" only when the broker confirmed every row: a queue that refuses rows ends in the nack sentence', async () => {
    const file = csvOf(Array.from({ length: 50 }, (_, i) => `Task ${i + 1}.`));
    const { exit, queue, held } = await sendPastLimit(
      node,
      '03-multiple-consumers/emitter-of-tasks',
      (queue) => [...['--queue', queue, '--queue-type', 'classic', '--file', file, '--no-admin']],
    );
    expect(exit.code).toBe(1);
    expect(exit.stderr).not.toContain('confirmed them all');
    expect(exit.stderr).toContain(`RabbitMQ refused some of the tasks (nack): check ${queue}'s length limit`);
    expect(held).toBe(10);
  });
});
