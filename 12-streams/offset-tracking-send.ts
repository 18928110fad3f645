// Offset tracking, the sender: appends --count numbered messages (message 1 … message N) to the
// stream and exits once all are confirmed. With --producer-name, RabbitMQ de-duplicates: a sender
// started again under the same name does not append the numbers it appended before.
import { rabbitmqStream } from '../shared/errors/stream.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { streamConnect } from '../shared/stream.ts';
import { checkReference, checkStreamName, streamFlag, unlessAlreadyAStream } from './offsets.ts';

export const program = defineProgram({
  name: 'offset-tracking-send',
  summary: 'Append numbered messages to a stream; with --producer-name, never the same number twice.',
  positionals: 'text',
  flags: {
    stream: streamFlag('stream-offset-tracking'),
    count: { type: 'integer', min: 1, default: 100, description: 'append this many messages' },
    'producer-name': {
      type: 'string',
      description:
        'de-duplicate: message n gets publishing id n, and RabbitMQ drops ids it has seen under this name',
    },
  },
  examples: [
    'npm run lesson:12 -- offset-tracking-send --count 100',
    'npm run lesson:12 -- offset-tracking-send --count 100 --producer-name sender-1',
  ],
});

export async function offsetTrackingSend(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const stream = checkStreamName(options.stream);
  const producer =
    options['producer-name'] === undefined ? undefined : checkReference(options['producer-name']);
  const text = options.positionals.join(' ') || 'message';
  const client = await streamConnect({ log, name: 'lesson 12 offset-tracking-send' });
  try {
    await client
      .createStream({ stream, arguments: { 'max-length-bytes': 5_000_000_000 } })
      .catch((error) => unlessAlreadyAStream(client, stream, error));
    // #region dedup
    // A named producer: RabbitMQ remembers the highest publishing id it appended for this name
    // and drops (but still confirms) any message whose id is not higher.
    const publisher = await client.declarePublisher({
      stream,
      ...(producer ? { publisherRef: producer } : {}),
    });
    const before = producer ? Number(await publisher.getLastPublishingId()) : 0;
    // #endregion
    let confirmed = 0;
    let failed = 0;
    const allConfirmed = new Promise<void>((resolve) =>
      publisher.on('publish_confirm', (error, ids) => {
        if (error) failed += ids.length;
        else confirmed += ids.length;
        if (confirmed + failed >= options.count) resolve();
      }),
    );
    log.info(
      ` [*] Appending ${options.count} messages to ${stream}${producer ? ` as producer '${producer}'` : ''}…`,
    );
    for (let n = 1; n <= options.count && !signal.aborted; n++) {
      const content = Buffer.from(`${text} ${n}`);
      // #region send
      // With a name, the publishing id is the message's own number, so a rerun repeats the same ids.
      if (producer) await publisher.basicSend(BigInt(n), content);
      else await publisher.send(content);
      // #endregion
    }
    await publisher.flush();
    if (!signal.aborted) await allConfirmed;
    if (failed > 0) log.warn(` [!] RabbitMQ refused ${failed} messages.`);
    const dropped = producer ? Math.min(before, options.count) : 0;
    if (dropped > 0)
      log.warn(
        ` [=] producer '${producer}' had appended up to message ${before} already: RabbitMQ dropped ${dropped} duplicate${dropped === 1 ? '' : 's'} and appended ${options.count - dropped}.`,
      );
    log.success(
      ` [✓] RabbitMQ confirmed ${confirmed} message${confirmed === 1 ? '' : 's'} (${text} 1 … ${text} ${options.count}).`,
    );
    return { confirmed, appended: options.count - dropped, dropped };
  } finally {
    await client.close();
  }
}

runMain(import.meta, program, offsetTrackingSend, [rabbitmqStream]);
