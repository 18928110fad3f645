// Receive: reads the stream "hello-stream" from its first message and prints each one, until
// Ctrl+C or --count messages. Reading does not remove anything: run it twice, both read it all.
import { Offset } from 'rabbitmq-stream-js-client';
import { rabbitmqStream } from '../shared/errors/stream.ts';
import { CourseError } from '../shared/errors.ts';
import { countFlag, defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { streamConnect } from '../shared/stream.ts';
import { checkStreamName, streamFlag, unlessAlreadyAStream } from './offsets.ts';

export const program = defineProgram({
  name: 'receive',
  summary: 'Print every message of a stream from its first one, until Ctrl+C or --count messages.',
  flags: { stream: streamFlag('hello-stream'), count: countFlag('messages') },
  examples: ['npm run lesson:12 -- receive', 'npm run lesson:12 -- receive --count 1'],
});

export async function receive(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const stream = checkStreamName(options.stream);
  let lost = () => {};
  const connectionLost = new Promise<void>((resolve) => {
    lost = resolve;
  });
  const client = await streamConnect({ log, name: 'lesson 12 receive', onClosed: () => lost() });
  let received = 0;
  try {
    await client
      .createStream({ stream, arguments: { 'max-length-bytes': 5_000_000_000 } })
      .catch((error) => unlessAlreadyAStream(client, stream, error));
    let done = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    log.info(` [*] Waiting for messages in ${stream}. To exit press CTRL+C`);
    // #region consume
    // Offset.first(): from the stream's first message. The consumer gets a copy; nothing is removed.
    await client.declareConsumer({ stream, offset: Offset.first() }, (message) => {
      if (options.count && received >= options.count) return;
      received++;
      log.info(` [x] Received message: ${message.content}`);
      if (options.count && received >= options.count) done();
    });
    // #endregion
    const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    await Promise.race([finished, stopped, connectionLost]);
    if (!signal.aborted && !(options.count && received >= options.count))
      throw new CourseError(
        'RabbitMQ closed the stream connection: run receive again once it answers (npm run services); the stream kept every message.',
        { code: 'CLOSED_BY_BROKER' },
      );
    return { received };
  } finally {
    await client.close();
  }
}

runMain(import.meta, program, receive, [rabbitmqStream]);
