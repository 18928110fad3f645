// Emitter of tasks: reads a CSV of tasks and sends one persistent message per row to a durable queue.
import { connect, refused, sendToQueue } from '../shared/connection.ts';
import { defineProgram, queueFlag, queueTypeFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { offerAdminPanel } from '../shared/prompts.ts';
import { producerNote, queueExists } from '../shared/queues.ts';
import { countTasks, readTasks } from './tasks-file.ts';

export const program = defineProgram({
  name: 'emitter-of-tasks',
  summary:
    'Send one task per row of a CSV file to the task queue, then exit once RabbitMQ confirmed them all.',
  flags: {
    file: { type: 'string', default: 'data/tasks.csv', description: 'the CSV of tasks: a name, then dots' },
    queue: queueFlag('task_queue3', 'the queue to send to'),
    queueType: queueTypeFlag,
    admin: { type: 'boolean', description: 'open the RabbitMQ admin panel (--no-admin: do not ask)' },
    maxRowBytes: {
      type: 'integer',
      min: 1,
      default: 131_072,
      description: 'refuse a larger row (frame size)',
    },
  },
  examples: [
    'npm run lesson:03 -- emitter-of-tasks',
    'npm run lesson:03 -- emitter-of-tasks --file data/tasks-short.csv --no-admin',
  ],
});

export async function emitTasks(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const { file, queue } = options;
  const rows = await countTasks(file, options.maxRowBytes); // the whole file is checked before we send
  await offerAdminPanel({ admin: options.admin, log });

  const started = performance.now();
  const connection = await connect({ log, name: 'lesson 03 emitter-of-tasks' });
  let sent = 0;
  try {
    // A confirm channel: the broker tells us when it has each task (written to disk: persistent).
    const channel = await connection.confirmChannel();
    // Asked first, so a misspelt --queue is not a silent success: see shared/queues.ts.
    const existed = await queueExists(connection, queue);
    const { consumerCount } = await channel.assertQueue(queue, {
      durable: true,
      arguments: { 'x-queue-type': options.queueType },
    });
    const note = producerNote(queue, existed, consumerCount, { items: 'tasks', reader: 'a worker' });
    if (note) log.warn(note);
    // #region publish
    for await (const task of readTasks(file, options.maxRowBytes)) {
      if (signal.aborted) break;
      // sendToQueue, and wait for 'drain' when amqplib's write buffer is full (see shared/connection.ts).
      await sendToQueue(channel, queue, Buffer.from(task.text), { persistent: true });
      sent++;
      log.info(` [x] Sent ${task.text}`);
    }
    // #endregion
    // Until the broker confirms, a task could still be lost: only now may we exit. A nack: refused.
    await channel.waitForConfirms().catch(refused(queue, 'some of the tasks'));
  } finally {
    await connection.close();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (sent < rows)
    log.warn(` [!] Sent ${sent} of ${rows} rows from ${file} before Ctrl+C; RabbitMQ confirmed all ${sent}.`);
  else
    log.success(
      ` [✓] Sent ${sent} rows from ${file} to ${queue} in ${seconds} s; RabbitMQ confirmed them all.`,
    );
  return sent;
}

runMain(import.meta, program, emitTasks);
