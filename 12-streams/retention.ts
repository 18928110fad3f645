// Retention: a stream made with limits (--max-length-bytes, --max-age) and small segments, filled
// batch by batch, printing after each batch where the stream now starts. What goes is never one
// message: RabbitMQ checks the limits when it starts a new segment file, and removes whole old
// segments, so the first offset jumps by a segment's worth of messages at a time.
import { setTimeout as sleep } from 'node:timers/promises';
import { rabbitmqStream } from '../shared/errors/stream.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { streamConnect } from '../shared/stream.ts';
import { checkStreamName, streamFlag } from './offsets.ts';
import { firstOffset } from './stream-end.ts';

export const program = defineProgram({
  name: 'retention',
  summary: 'Fill a stream made with retention limits, batch by batch, and watch old segments go.',
  flags: {
    stream: {
      ...streamFlag('retention-demo'),
      description: 'the stream to make anew (deleted first if it exists)',
    },
    'max-length-bytes': {
      type: 'integer',
      min: 1,
      description: 'keep at most about this many bytes (whole segments are removed to get under it)',
    },
    'max-age': {
      type: 'string',
      description: 'remove segments whose messages are all older than this: 30s, 10m, 1h, 7D (Y M D h m s)',
    },
    'segment-bytes': {
      type: 'integer',
      min: 1,
      default: 100_000,
      description: 'the size of a segment file (RabbitMQ’s default is 500 MB)',
    },
    batches: { type: 'integer', min: 1, default: 10, description: 'append this many batches' },
    batch: { type: 'integer', min: 1, default: 1000, description: 'messages in a batch' },
    size: { type: 'integer', min: 1, max: 1_000_000, default: 100, description: 'bytes in a message' },
    pause: { type: 'number', min: 0, default: 0, description: 'seconds to wait between batches' },
  },
  examples: [
    'npm run lesson:12 -- retention --max-length-bytes 300000',
    'npm run lesson:12 -- retention --max-age 3s --pause 1',
  ],
});

/** RabbitMQ's max-age: a whole number and one unit, Y, M, D, h, m or s. */
function checkMaxAge(text: string | undefined): string | undefined {
  if (text === undefined || /^[1-9]\d*[YMDhms]$/.test(text)) return text;
  throw new UsageError(
    `--max-age '${text}' is not an age RabbitMQ reads: a whole number and one unit, Y, M, D, h, m or s (30s, 10m, 7D).`,
  );
}

export async function retention(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const stream = checkStreamName(options.stream);
  const maxAge = checkMaxAge(options['max-age']);
  let connectionLost = () => {};
  const lost = new Promise<'lost'>((resolve) => {
    connectionLost = () => resolve('lost');
  });
  const client = await streamConnect({ log, name: 'lesson 12 retention', onClosed: () => connectionLost() });
  try {
    // Limits are set when a stream is created: start from a new one, so these are the limits.
    await client.deleteStream({ stream }).catch(() => {});
    // #region limits
    // The limits are the stream's own, fixed when it is created. RabbitMQ applies them each time
    // it starts a new segment file: the oldest whole segments go until the stream is under them.
    await client.createStream({
      stream,
      arguments: {
        'stream-max-segment-size-bytes': options['segment-bytes'],
        ...(options['max-length-bytes'] ? { 'max-length-bytes': options['max-length-bytes'] } : {}),
        ...(maxAge ? { 'max-age': maxAge } : {}),
      },
    });
    // #endregion
    const limits = [
      options['max-length-bytes'] && `max-length-bytes ${options['max-length-bytes']}`,
      maxAge && `max-age ${maxAge}`,
    ].filter(Boolean);
    log.info(
      ` [*] ${stream} created anew: ${limits.join(', ') || 'no limit'}, segments of ${options['segment-bytes']} bytes; appending ${options.batches} batches of ${options.batch} messages of ${options.size} bytes…`,
    );
    const publisher = await client.declarePublisher({ stream });
    let confirmed = 0;
    let refused = 0;
    let wake = () => {};
    publisher.on('publish_confirm', (error, ids) => {
      if (error) refused += ids.length;
      else confirmed += ids.length;
      wake();
    });
    const body = Buffer.alloc(options.size, 'x');
    let appended = 0;
    let start = 0n; // where the stream starts: every offset before it was removed
    const removals: bigint[] = [];
    for (let batch = 1; batch <= options.batches && !signal.aborted; batch++) {
      if (batch > 1 && options.pause > 0)
        await sleep(options.pause * 1000, undefined, { signal }).catch(() => {});
      if (signal.aborted) break;
      const appendBatch = async () => {
        for (let i = 0; i < options.batch; i++) await publisher.send(body);
        await publisher.flush();
        while (confirmed + refused < appended + options.batch)
          await new Promise<void>((resolve) => (wake = resolve));
      };
      // A confirm on a dropped connection never comes: the loss ends the wait instead.
      if ((await Promise.race([appendBatch(), lost])) === 'lost')
        throw new CourseError(
          `The stream connection was lost after ${confirmed} messages were confirmed: run again once RabbitMQ answers; the stream is made anew.`,
          { code: 'CLOSED_BY_BROKER' },
        );
      appended += options.batch;
      if (refused > 0)
        throw new CourseError(
          `RabbitMQ refused ${refused} of the messages appended to ${stream}: run again; the stream is created anew.`,
          { code: 'NACKED' },
        );
      const now = await firstOffset(client, stream);
      const gone =
        now > start ? `: retention removed offsets ${start}–${now - 1n} (${now - start} messages)` : '';
      if (now > start) removals.push(now - start);
      start = now;
      log.info(
        ` [x] batch ${batch}: offsets ${appended - options.batch}–${appended - 1} appended; the stream starts at offset ${now}${gone}`,
      );
    }
    const kept = BigInt(appended) - start;
    log.success(
      ` [✓] Appended ${appended} messages; the stream keeps offsets ${start}–${appended - 1} (${kept} messages, about ${kept * BigInt(options.size)} bytes of bodies); ${removals.length ? `retention removed ${start} in ${removals.length} step${removals.length === 1 ? '' : 's'}, whole segments at a time` : 'nothing was removed'}.`,
    );
    return { appended, first: start, kept, removals };
  } finally {
    await client.close();
  }
}

runMain(import.meta, program, retention, [rabbitmqStream]);
