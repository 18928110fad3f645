// Receive: waits for messages on the queue "hello" and prints each one.
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { connect, consume } from '../shared/connection.ts';

export const program = defineProgram({
  name: 'receive',
  summary: 'Print the messages that arrive on a queue, until Ctrl+C or --count messages.',
  flags: {
    queue: { type: 'string', default: 'hello', env: 'QUEUE', description: 'the queue to read from' },
    count: { type: 'integer', min: 1, description: 'stop after this many messages' },
  },
  examples: ['npm run lesson:01 -- receive', 'npm run lesson:01 -- receive --count 1'],
});

export async function receive(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
  onMessage: (text: string) => void = () => {},
): Promise<number> {
  // recover: a receiver is long-lived, so it reconnects if the broker restarts.
  const broker = await connect({ log, recover: true, name: 'lesson 01 receive' });
  try {
    const { handled } = await consume(
      broker,
      {
        queue: options.queue,
        setup: (channel) => channel.assertQueue(options.queue, { durable: false }),
        count: options.count,
        signal,
        log,
        onReady: () => log.info(` [*] Waiting for messages in ${options.queue}. To exit press CTRL+C`),
      },
      (message, channel) => {
        const text = message.content.toString();
        log.info(` [x] Received '${text}'`);
        onMessage(text);
        // Acknowledge after printing: a message we never printed goes back to the queue (lesson 02).
        channel.ack(message);
      },
    );
    return handled;
  } finally {
    await broker.close();
  }
}

runMain(import.meta, program, receive);
