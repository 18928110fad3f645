// Worker: takes tasks from the work queue one at a time, works one second per dot, and acks after the work.
import type { Channel, ConsumeMessage } from 'amqplib';
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
  name: 'worker',
  summary: 'Take tasks from the work queue and simulate the work: one second per dot.',
  flags: {
    queue: queueFlag('task_queue', 'the queue to take tasks from'),
    queueType: queueTypeFlag,
    name: nameFlag('shown in every line, to tell terminals apart'),
    prefetch: { type: 'integer', min: 0, default: 1, description: 'unacked tasks to hold (0 = unlimited)' },
    secondsPerDot: { type: 'number', min: 0, default: 1, description: 'seconds of work per dot in a task' },
    noAck: { type: 'boolean', default: false, description: 'auto-ack: RabbitMQ forgets a task once sent' },
    count: countFlag('tasks'),
  },
  examples: [
    'npm run lesson:02 -- worker --name A',
    'npm run lesson:02 -- worker --name Slow --seconds-per-dot 3',
  ],
});

export async function work(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const { name, queue, noAck } = options;
  if (noAck) log.warn(` [!] ${name}: --no-ack: kill this worker and the tasks it holds are lost.`);

  const doTask = async (channel: Channel, message: ConsumeMessage) => {
    const task = message.content.toString();
    log.info(` [x] ${name} received '${task}'${message.fields.redelivered ? ' (redelivered)' : ''}`);
    await simulateWork(task, options.secondsPerDot, signal);
    // #region ack
    if (!noAck) channel.ack(message); // only after the work: if we die first, another worker gets the task
    // #endregion
    log.info(` [x] ${name} done '${task}'`);
  };

  let created = false;
  // The lesson's setup. keepConsuming runs it again after every reconnect, and ends after --count or Ctrl+C.
  const setup = async (channel: Channel) => {
    // durable: the queue outlives a broker restart. Quorum or classic: see the README.
    // #region declare
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': options.queueType } });
    // Fair dispatch: a busy worker gets no new task until it acks the last (no effect with --no-ack).
    await channel.prefetch(options.prefetch);
    // #endregion
    if (created) log.warn(createdNote(queue));
    created = false; // after a reconnect the queue is ours from before
    let turn = Promise.resolve(); // one task at a time, in delivery order, whatever the prefetch
    const onMessage = (message: ConsumeMessage | null) => {
      if (!message) return; // the broker cancelled us (queue deleted)
      log.debug(` [>] ${name} holds delivery ${message.fields.deliveryTag}: '${message.content}'`);
      turn = turn.then(() => doTask(channel, message));
      return turn;
    };
    log.info(
      ` [*] ${name} waiting for tasks in ${queue} (prefetch ${options.prefetch || 'unlimited'}). To exit press CTRL+C`,
    );
    // #region consume
    return channel.consume(queue, onMessage, { noAck });
    // #endregion
  };

  const connection = await connect({ log, recover: true, name: `lesson 02 worker ${name}` });
  try {
    // A queue this program creates has had no sender yet: a misspelt --queue would wait in silence.
    created = !(await queueExists(connection, queue));
    const quiet = created ? { seconds: QUIET_SECONDS, note: quietNote(queue, 'new-task') } : undefined;
    return (await keepConsuming(connection, setup, { count: options.count, signal, log, quiet })).handled;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, work);
