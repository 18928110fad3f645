// Worker: takes tasks from the durable queue one at a time, works one second per dot, and acks after the work.
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { connect, consume } from '../shared/connection.ts';
import { simulateWork } from '../shared/work.ts';

export const program = defineProgram({
  name: 'worker',
  summary: 'Take tasks from the work queue and simulate the work: one second per dot.',
  flags: {
    queue: {
      type: 'string',
      default: 'task_queue',
      env: 'QUEUE',
      description: 'the queue to take tasks from',
    },
    name: {
      type: 'string',
      default: `W${process.pid}`,
      description: 'shown in every line, to tell terminals apart',
    },
    prefetch: {
      type: 'integer',
      min: 0,
      default: 1,
      description: 'unacked tasks RabbitMQ may give this worker (0 = unlimited)',
    },
    secondsPerDot: { type: 'number', min: 0, default: 1, description: 'seconds of work per dot in a task' },
    noAck: {
      type: 'boolean',
      default: false,
      description: 'auto-ack: RabbitMQ forgets a task once sent (see what goes wrong)',
    },
    count: { type: 'integer', min: 1, description: 'stop after this many tasks' },
  },
  examples: [
    'npm run lesson:02 -- worker --name A',
    'npm run lesson:02 -- worker --name Slow --seconds-per-dot 3',
  ],
});

export async function work(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
): Promise<string[]> {
  const { name, queue } = options;
  const done: string[] = [];
  const broker = await connect({ log, recover: true, name: `lesson 02 worker ${name}` });
  try {
    if (options.noAck) {
      log.warn(
        ` [!] ${name}: --no-ack: RabbitMQ forgets each task as soon as it sends it; kill this worker and the tasks it holds are lost.`,
      );
    }
    let delivered = 0;
    await consume(
      broker,
      {
        queue,
        setup: (channel) => channel.assertQueue(queue, { durable: true }),
        // Fair dispatch: with prefetch 1 a busy worker gets no new task until it acks the last one.
        // Prefetch does nothing with auto-ack: the broker pushes everything at once.
        prefetch: options.prefetch,
        noAck: options.noAck,
        count: options.count,
        serial: true, // one task at a time, like the tutorial's worker
        signal,
        log,
        onDelivery: (message) =>
          log.debug(` [>] ${name} holds delivery ${++delivered}: '${message.content}'`),
        onReady: () =>
          log.info(
            ` [*] ${name} waiting for tasks in ${queue} (prefetch ${options.prefetch || 'unlimited'}). To exit press CTRL+C`,
          ),
      },
      async (message, channel) => {
        const task = message.content.toString();
        log.info(` [x] ${name} received '${task}'${message.fields.redelivered ? ' (redelivered)' : ''}`);
        await simulateWork(task, options.secondsPerDot, signal);
        // Ack only after the work: if we die before this line, the task goes to another worker.
        if (!options.noAck) channel.ack(message);
        done.push(task);
        log.info(` [x] ${name} done '${task}'`);
      },
    );
    return done;
  } finally {
    await broker.close();
  }
}

runMain(import.meta, program, work);
