// New task: sends tasks to a durable queue as persistent messages and exits once RabbitMQ confirms them all.
import { connect, refused, sendToQueue } from '../shared/connection.ts';
import { defineProgram, queueFlag, queueTypeFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { producerNote, queueExists } from '../shared/queues.ts';

export const program = defineProgram({
  name: 'new-task',
  summary: 'Send tasks to the work queue; each dot in a task is one second of work for a worker.',
  positionals: 'task',
  flags: {
    queue: queueFlag('task_queue', 'the queue to send to'),
    queueType: queueTypeFlag,
    message: { type: 'string', description: 'send this one task' },
    count: { type: 'integer', min: 1, description: 'send this many generated tasks: Task 1, Task 2, …' },
    dots: { type: 'integer', min: 0, default: 1, description: 'seconds of work in each generated task' },
  },
  examples: [
    'npm run lesson:02 -- new-task "A small task." "A bigger task....."',
    'npm run lesson:02 -- new-task --count 10 --dots 3',
  ],
});

const defaultTasks = ['First task.', 'Second task..', 'Third task...', 'Fourth task....', 'Fifth task.....'];

export function tasksFrom(options: Values<typeof program.flags>): string[] {
  if (options.count !== undefined) {
    return Array.from({ length: options.count }, (_, i) => `Task ${i + 1}${'.'.repeat(options.dots)}`);
  }
  if (options.message !== undefined) return [options.message];
  return options.positionals.length ? options.positionals : defaultTasks;
}

export async function newTask(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const tasks = tasksFrom(options);
  const connection = await connect({ log, name: 'lesson 02 new-task' });
  try {
    const channel = await connection.confirmChannel();
    // durable: the queue itself survives a broker restart (workers declare it the same way).
    const { queue, queueType } = options;
    // Asked first, so a misspelt --queue is not a silent success: see shared/queues.ts.
    const existed = await queueExists(connection, queue);
    const { consumerCount } = await channel.assertQueue(queue, {
      durable: true,
      arguments: { 'x-queue-type': queueType },
    });
    const note = producerNote(queue, existed, consumerCount, { items: 'tasks', reader: 'a worker' });
    if (note) log.warn(note);
    // #region publish
    for (const task of tasks) {
      // persistent: the message is written to disk, so it survives the restart too.
      await sendToQueue(channel, queue, Buffer.from(task), { persistent: true });
      log.info(` [x] Sent '${task}'`);
    }
    // #endregion
    // Until the broker confirms, a task could still be lost: only then is it safe to exit. A nack means
    // the broker refused one (a full queue with a length limit, say): it is not in the queue.
    // #region confirm
    await channel.waitForConfirms().catch(refused(queue, 'some of the tasks'));
    // #endregion
    log.success(` [✓] RabbitMQ confirmed all ${tasks.length} task${tasks.length === 1 ? '' : 's'}.`);
    return tasks.length;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, newTask);
