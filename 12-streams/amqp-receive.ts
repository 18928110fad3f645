// The same stream, over AMQP 0-9-1 with amqplib: a stream is also a queue type. A consumer says
// where to start with the x-stream-offset argument, must set a prefetch, and acks (which, unlike
// on a queue, removes nothing: it only lets RabbitMQ send more).
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { countFlag, defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { checkStreamName, offsetFlag, parseOffset, streamFlag } from './offsets.ts';

export const program = defineProgram({
  name: 'amqp-receive',
  summary: 'Read a stream over AMQP 0-9-1 (amqplib), from --offset, until Ctrl+C or --count messages.',
  flags: {
    stream: streamFlag('stream-offset-tracking'),
    offset: offsetFlag,
    prefetch: {
      type: 'integer',
      min: 0,
      default: 100,
      description: 'unacked messages at a time (RabbitMQ refuses a stream consumer without one: try 0)',
    },
    count: countFlag('messages'),
  },
  examples: [
    'npm run lesson:12 -- amqp-receive --count 10',
    'npm run lesson:12 -- amqp-receive --offset next',
  ],
});

export async function amqpReceive(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const stream = checkStreamName(options.stream);
  const start = parseOffset(options.offset ?? 'first');
  let next: number | undefined; // after a reconnect, go on from here
  const connection = await connect({ log, recover: true, name: 'lesson 12 amqp-receive' });
  try {
    const outcome = await keepConsuming(
      connection,
      async (channel) => {
        // #region declare
        // The same stream the stream protocol's programs declare: a durable queue of type stream.
        await channel.assertQueue(stream, {
          durable: true,
          arguments: { 'x-queue-type': 'stream', 'x-max-length-bytes': 5_000_000_000 },
        });
        // #endregion
        // #region consume
        // A stream consumer needs a prefetch (how many unacked messages it may hold) and manual acks.
        if (options.prefetch > 0) await channel.prefetch(options.prefetch);
        log.info(
          ` [*] Reading ${stream} over AMQP 0-9-1 from ${next === undefined ? `--offset ${start.text}` : `offset ${next}`}. To exit press CTRL+C`,
        );
        return channel.consume(
          stream,
          (message) => {
            if (!message) return;
            const offset = Number(message.properties.headers?.['x-stream-offset']);
            next = offset + 1;
            log.info(` [x] offset ${offset}: ${message.content}`);
            channel.ack(message); // removes nothing: it makes room under the prefetch
          },
          { noAck: false, arguments: { 'x-stream-offset': next ?? start.amqp } },
        );
        // #endregion
      },
      { count: options.count, signal, log, stream: true },
    );
    return { handled: outcome.handled };
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, amqpReceive);
