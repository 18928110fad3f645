// Listening worker: takes one task at a time from the queue, works one second per dot, acks, and logs it all.
import type { ConsumeMessage } from 'amqplib';
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import {
  countFlag,
  defineProgram,
  nameFlag,
  queueFlag,
  queueTypeFlag,
  type Values,
} from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { createdNote, QUIET_SECONDS, queueExists, quietNote } from '../shared/queues.ts';
import { simulateWork } from '../shared/work.ts';

export const program = defineProgram({
  name: 'listening-worker',
  summary: 'Listen on the task queue and work through tasks one at a time (one second per dot).',
  flags: {
    queue: queueFlag('task_queue3', 'the queue to listen on'),
    queueType: queueTypeFlag,
    name: nameFlag('shown in every line and names the log file'),
    secondsPerDot: { type: 'number', min: 0, default: 1, description: 'seconds of work per dot in a task' },
    count: countFlag('tasks'),
  },
  examples: [
    'npm run lesson:03 -- listening-worker --name A',
    'npm run lesson:03 -- listening-worker --name Quick --seconds-per-dot 0.2',
  ],
});

const clock = () => new Date().toISOString().slice(11, 23);

export async function listen(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const { name, queue } = options;
  const connection = await connect({ log, recover: true, name: `lesson 03 listening-worker ${name}` });
  try {
    // A queue this program creates has had no sender yet: a misspelt --queue would wait in silence.
    let created = !(await queueExists(connection, queue));
    const quiet = created ? { seconds: QUIET_SECONDS, note: quietNote(queue, 'the emitter') } : undefined;
    // keepConsuming runs this setup again after every reconnect, and ends after --count or Ctrl+C.
    const { handled } = await keepConsuming(
      connection,
      async (channel) => {
        await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': options.queueType } });
        if (created) log.warn(createdNote(queue));
        created = false; // after a reconnect the queue is ours from before
        // #region prefetch
        await channel.prefetch(1); // fair dispatch: a busy worker gets no new task until it acks this one
        // #endregion
        log.info(` [*] ${name} listening on ${queue}. To exit press CTRL+C`);
        return channel.consume(queue, async (message: ConsumeMessage | null) => {
          if (!message) return; // the broker cancelled us (queue deleted)
          const task = message.content.toString();
          const again = message.fields.redelivered ? ' (redelivered)' : '';
          log.info(` [x] ${name} received ${task} at ${clock()}${again}`);
          const seconds = await simulateWork(task, options.secondsPerDot, signal);
          // #region ack
          channel.ack(message); // after the work: a worker that dies mid-task loses nothing
          // #endregion
          log.info(` [x] ${name} done ${task.split(' ')[0]} at ${clock()} (${seconds.toFixed(2)} s of work)`);
        });
      },
      { count: options.count, signal, log, quiet },
    );
    return handled;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, listen);
