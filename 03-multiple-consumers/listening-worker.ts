// Listening worker: takes one task at a time from the queue, works one second per dot, acks, and logs it all.
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { connect, consume } from '../shared/connection.ts';
import { simulateWork } from '../shared/work.ts';

export const program = defineProgram({
  name: 'listening-worker',
  summary: 'Listen on the task queue and work through tasks one at a time (one second per dot).',
  flags: {
    queue: { type: 'string', default: 'task_queue3', env: 'QUEUE', description: 'the queue to listen on' },
    name: {
      type: 'string',
      default: `W${process.pid}`,
      description: 'shown in every line and names the log file',
    },
    secondsPerDot: { type: 'number', min: 0, default: 1, description: 'seconds of work per dot in a task' },
    count: { type: 'integer', min: 1, description: 'stop after this many tasks' },
  },
  examples: [
    'npm run lesson:03 -- listening-worker --name A',
    'npm run lesson:03 -- listening-worker --name Quick --seconds-per-dot 0.2',
  ],
});

const clock = () => new Date().toISOString().slice(11, 23);

export async function listen(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
): Promise<string[]> {
  const { name, queue } = options;
  const done: string[] = [];
  const broker = await connect({ log, recover: true, name: `lesson 03 listening-worker ${name}` });
  try {
    await consume(
      broker,
      {
        queue,
        setup: (channel) => channel.assertQueue(queue, { durable: true }),
        prefetch: 1, // fair dispatch: a busy worker gets no new task until it acks this one
        serial: true,
        count: options.count,
        signal,
        log,
        onReady: () => log.info(` [*] ${name} listening on ${queue}. To exit press CTRL+C`),
      },
      async (message, channel) => {
        const task = message.content.toString();
        log.info(
          ` [x] ${name} received ${task} at ${clock()}${message.fields.redelivered ? ' (redelivered)' : ''}`,
        );
        const seconds = await simulateWork(task, options.secondsPerDot, signal);
        channel.ack(message); // after the work: a worker that dies mid-task loses nothing
        done.push(task);
        log.info(` [x] ${name} done ${task.split(' ')[0]} at ${clock()} (${seconds.toFixed(2)} s of work)`);
      },
    );
    return done;
  } finally {
    await broker.close();
  }
}

runMain(import.meta, program, listen);
