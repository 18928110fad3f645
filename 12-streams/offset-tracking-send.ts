// Offset tracking, the sender: appends --count numbered messages (message 1 … message N) to the
// stream and exits once all are confirmed. With --producer-name, RabbitMQ de-duplicates: a sender
// started again under the same name does not append the numbers it appended before.
import { rabbitmqStream } from '../shared/errors/stream.ts';
import { CourseError } from '../shared/errors.ts';
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

/** Messages sent and not yet confirmed, at most. */
const IN_FLIGHT = 2000;

export async function offsetTrackingSend(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const stream = checkStreamName(options.stream);
  const producer =
    options['producer-name'] === undefined ? undefined : checkReference(options['producer-name']);
  const text = options.positionals.join(' ') || 'message';
  // The broker closing the connection ends the run with what it had confirmed (see below).
  let connectionLost = () => {};
  const lost = new Promise<'lost'>((resolve) => {
    connectionLost = () => resolve('lost');
  });
  const client = await streamConnect({
    log,
    name: 'lesson 12 offset-tracking-send',
    onClosed: () => connectionLost(),
  });
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
    let wake = () => {};
    const allConfirmed = new Promise<void>((resolve) =>
      publisher.on('publish_confirm', (error, ids) => {
        if (error) failed += ids.length;
        else confirmed += ids.length;
        wake();
        if (confirmed + failed >= options.count) resolve();
      }),
    );
    log.info(
      ` [*] Appending ${options.count} messages to ${stream}${producer ? ` as producer '${producer}'` : ''}…`,
    );
    const sendAll = async () => {
      for (let n = 1; n <= options.count && !signal.aborted; n++) {
        // At most IN_FLIGHT unconfirmed (lesson 04's back-pressure): the confirms are counted as
        // they come, so a run cut short knows what RabbitMQ had taken, and memory stays bounded.
        while (n - 1 - confirmed - failed >= IN_FLIGHT)
          await new Promise<void>((resolve) => (wake = resolve));
        const content = Buffer.from(`${text} ${n}`);
        // #region send
        // With a name, the publishing id is the message's own number, so a rerun repeats the same ids.
        if (producer) await publisher.basicSend(BigInt(n), content);
        else await publisher.send(content);
        // #endregion
      }
      await publisher.flush();
      if (!signal.aborted) await allConfirmed;
    };
    // A confirm on a dropped connection never comes, and a send on it fails: either way the run
    // ends with what RabbitMQ had confirmed.
    const outcome = await Promise.race([
      sendAll().then(
        () => 'sent' as const,
        (error: unknown) => error,
      ),
      lost,
    ]);
    if (outcome !== 'sent' && outcome !== 'lost' && !socketGone(outcome)) throw outcome;
    if (outcome !== 'sent')
      throw new CourseError(
        `The stream connection was lost after RabbitMQ had confirmed ${confirmed} of ${options.count} messages: ${producer ? `run the same command again: as producer '${producer}', only what RabbitMQ had not appended is appended` : 'run again with --producer-name NAME (here and next time), so that a rerun does not append the same messages twice'}.`,
        { code: 'CLOSED_BY_BROKER' },
      );
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

/** A write to a connection the broker (or the network) already closed. */
function socketGone(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return (
    /^(ECONNRESET|EPIPE|ERR_STREAM_WRITE_AFTER_END|ERR_STREAM_DESTROYED)$/.test(code ?? '') ||
    /write after end/.test(message ?? '')
  );
}

runMain(import.meta, program, offsetTrackingSend, [rabbitmqStream]);
