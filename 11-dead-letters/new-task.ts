// New task: sends tasks whose text says how they behave ('flaky 2: send mail' fails twice, 'poison: bad
// row' always fails, anything else succeeds) to the work queue, and exits once RabbitMQ confirms them.
import { randomUUID } from 'node:crypto';
import { connect, refused, sendToQueue } from '../shared/connection.ts';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, queueFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { producerNote, queueExists } from '../shared/queues.ts';
import { declareWork, MAX_TTL_MS } from './topology.ts';

export const program = defineProgram({
  name: 'new-task',
  summary:
    "Send tasks to the work queue: 'flaky N: …' fails its first N attempts, 'poison: …' fails every one, anything else succeeds.",
  positionals: 'task',
  flags: {
    queue: queueFlag('dl_tasks', 'the work queue to send to'),
    ttlSeconds: {
      type: 'number',
      min: 0,
      description: 'each task expires after this long unprocessed (per-message TTL): parked, reason expired',
    },
    maxLength: {
      type: 'integer',
      min: 0,
      description: 'create the work queue holding at most this many: the oldest are parked, reason maxlen',
    },
    count: {
      type: 'integer',
      min: 1,
      description: 'send this many numbered tasks of each kind given: … #1, … #2',
    },
  },
  examples: [
    "npm run lesson:11 -- new-task 'resize photo' 'flaky 2: send mail' 'poison: bad row'",
    "npm run lesson:11 -- new-task --count 100 'flaky 2: send mail'",
  ],
});

export function tasksFrom(options: Values<typeof program.flags>): string[] {
  const kinds = options.positionals;
  if (!kinds.length)
    throw new UsageError(
      "Say which tasks to send: new-task 'resize photo' 'flaky 2: send mail' 'poison: bad row'.",
    );
  if (options.count === undefined) return kinds;
  return kinds.flatMap((kind) => Array.from({ length: options.count! }, (_, i) => `${kind} #${i + 1}`));
}

export async function newTask(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const tasks = tasksFrom(options);
  const { queue } = options;
  const connection = await connect({ log, name: 'lesson 11 new-task' });
  try {
    const existed = await queueExists(connection, queue);
    const channel = await connection.confirmChannel();
    // A worker may have declared it with a delivery limit: then we send to it as it is.
    const { consumerCount } = existed
      ? await channel.checkQueue(queue)
      : await declareWork(channel, queue, { maxLength: options.maxLength });
    const note = producerNote(queue, existed, consumerCount, { items: 'tasks', reader: 'a worker' });
    if (note) log.warn(note);
    const run = randomUUID().slice(0, 8);
    const ttl = options.ttlSeconds === undefined ? undefined : Math.round(options.ttlSeconds * 1000);
    if (ttl !== undefined && ttl > MAX_TTL_MS)
      throw new UsageError(
        `--ttl-seconds ${options.ttlSeconds} is beyond what a TTL can hold (${MAX_TTL_MS} ms, about 49.7 days).`,
      );
    if (existed && options.maxLength !== undefined)
      log.warn(`${queue} exists already: --max-length applies only when new-task creates it.`);
    for (const [i, task] of tasks.entries()) {
      // The message id names the task for good: the worker's counts and the parking lot use it.
      await sendToQueue(channel, queue, Buffer.from(task), {
        persistent: true,
        messageId: `${run}-${i + 1}`,
        // Per message: RabbitMQ drops (dead-letters) an expired message only at the queue's head.
        ...(ttl === undefined ? {} : { expiration: String(ttl) }),
      });
      if (tasks.length <= 10) log.info(` [x] Sent '${task}'`);
    }
    if (tasks.length > 10) log.info(` [x] Sent ${tasks.length} tasks, '${tasks[0]}' … '${tasks.at(-1)}'`);
    await channel.waitForConfirms().catch(refused(queue, 'some of the tasks'));
    log.success(` [✓] RabbitMQ confirmed all ${tasks.length} task${tasks.length === 1 ? '' : 's'}.`);
    return tasks.length;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, newTask);
