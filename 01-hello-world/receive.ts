// Receive: waits for messages on the queue "hello" and prints each one.

import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { countFlag, defineProgram, queueFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { createdNote, QUIET_SECONDS, queueExists, quietNote } from '../shared/queues.ts';

export const program = defineProgram({
  name: 'receive',
  summary: 'Print the messages that arrive on a queue, until Ctrl+C or --count messages.',
  flags: {
    queue: queueFlag('hello', 'the queue to read from'),
    count: countFlag('messages'),
  },
  examples: ['npm run lesson:01 -- receive', 'npm run lesson:01 -- receive --count 1'],
});

export async function receive(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const { queue } = options;
  // recover: a receiver is long-lived, so it reconnects if the broker restarts.
  const connection = await connect({ log, recover: true, name: 'lesson 01 receive' });
  try {
    // A queue this program creates has had no sender yet: a misspelt --queue would wait in silence.
    let created = !(await queueExists(connection, queue));
    const quiet = created ? { seconds: QUIET_SECONDS, note: quietNote(queue, 'send') } : undefined;
    // keepConsuming runs this setup again after every reconnect, and ends after --count or Ctrl+C.
    const { handled } = await keepConsuming(
      connection,
      async (channel) => {
        // The same declaration as send.ts: whichever program starts first creates the queue.
        // A quorum queue, as the official tutorial declares it since 2026: see the README.
        await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        if (created) log.warn(createdNote(queue));
        created = false; // after a reconnect the queue is ours from before
        log.info(` [*] Waiting for messages in ${queue}. To exit press CTRL+C`);
        // #region consume
        return channel.consume(queue, (message) => {
          if (!message) return; // the broker cancelled us (queue deleted)
          log.info(` [x] Received '${message.content}'`);
          // Acknowledge after printing: a message we never printed goes back to the queue (lesson 02).
          channel.ack(message);
        });
        // #endregion
      },
      { count: options.count, signal, log, quiet },
    );
    return handled;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, receive);
