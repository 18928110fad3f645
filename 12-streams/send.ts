// Send: appends one message to the stream "hello-stream" (declaring it first) over RabbitMQ's
// stream protocol, and exits once RabbitMQ confirms it. The official stream tutorial 1.

import { rabbitmqStream } from '../shared/errors/stream.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { streamConnect } from '../shared/stream.ts';
import { checkStreamName, streamFlag } from './offsets.ts';

export const program = defineProgram({
  name: 'send',
  summary: 'Append one message to a stream (declared if missing), then exit once it is confirmed.',
  positionals: 'message',
  flags: { stream: streamFlag('hello-stream') },
  examples: ['npm run lesson:12 -- send', 'npm run lesson:12 -- send "Hello, stream!"'],
});

export async function send(options: Values<typeof program.flags>, { log }: RunContext) {
  const stream = checkStreamName(options.stream);
  const text = options.positionals.join(' ') || 'Test message';
  const client = await streamConnect({ log, name: 'lesson 12 send' });
  try {
    // #region declare
    // A stream is declared like a queue, with a retention: here at most 5 GB, as in the tutorial.
    // Declaring one that exists with the same arguments does nothing.
    await client.createStream({ stream, arguments: { 'max-length-bytes': 5_000_000_000 } });
    // #endregion
    // #region publish
    const publisher = await client.declarePublisher({ stream });
    const confirmed = new Promise<void>((resolve, reject) =>
      publisher.on('publish_confirm', (error) =>
        error ? reject(new Error(`Publish returned error with code ${error}`)) : resolve(),
      ),
    );
    await publisher.send(Buffer.from(text));
    await confirmed; // the broker wrote it to the stream's log
    // #endregion
    log.success(` [x] '${text}' sent to ${stream}`);
    return { sent: 1 };
  } finally {
    await client.close();
  }
}

runMain(import.meta, program, send, [rabbitmqStream]);
