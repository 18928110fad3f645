// Send: puts one message on the queue "hello" and waits until the broker has it.

import { connect, refused } from '../shared/connection.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { producerNote, queueExists } from '../shared/queues.ts';

export const program = defineProgram({
  name: 'send',
  summary: 'Send one message to a queue and exit once RabbitMQ has it.',
  flags: {
    queue: { type: 'string', default: 'hello', env: 'QUEUE', description: 'the queue to send to' },
    message: { type: 'string', default: 'Hello World!', description: 'the text to send' },
  },
  examples: ['npm run lesson:01 -- send', "npm run lesson:01 -- send --message 'Hi there'"],
});

export async function send(
  options: Values<typeof program.flags>,
  { log }: Pick<RunContext, 'log'>,
): Promise<void> {
  const connection = await connect({ log, name: 'lesson 01 send' });
  try {
    // A confirm channel: the broker tells us when it has the message. The official tutorial
    // closes after a fixed 500 ms instead, and loses the message if the broker is slower.
    // #region channel
    const channel = await connection.confirmChannel();
    // #endregion
    // Declaring is idempotent: both programs declare, so whichever starts first creates the queue.
    // A quorum queue, as the official tutorial declares it since 2026: see the README.
    // Asked first, so a misspelt --queue is not a silent success: see shared/queues.ts.
    const existed = await queueExists(connection, options.queue);
    // #region declare
    const { consumerCount } = await channel.assertQueue(options.queue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });
    // #endregion
    const note = producerNote(options.queue, existed, consumerCount, {
      items: 'messages',
      reader: 'a receiver',
    });
    if (note) log.warn(note);
    // #region send
    channel.sendToQueue(options.queue, Buffer.from(options.message));
    await channel.waitForConfirms().catch(refused(options.queue, 'the message'));
    log.info(` [x] Sent '${options.message}'`);
    // #endregion
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, send);
