// Offset tracking, the receiver: reads a stream from --offset, prints each message with its
// offset, and stores how far it got on the server under --name. Run again with the same name, it
// resumes after the stored offset; when its connection is lost, it reconnects and goes on from
// the next offset, with no gap.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, type Consumer, Offset } from 'rabbitmq-stream-js-client';
import { rabbitmqStream } from '../shared/errors/stream.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import { countFlag, defineProgram, type Values } from '../shared/flags.ts';
import type { Log } from '../shared/logger.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { streamConnect } from '../shared/stream.ts';
import {
  checkReference,
  checkStreamName,
  offsetFlag,
  parseOffset,
  streamFlag,
  unlessAlreadyAStream,
} from './offsets.ts';
import { lastOffset } from './stream-end.ts';

export const program = defineProgram({
  name: 'offset-tracking-receive',
  summary: 'Read a stream from an offset, store how far you got under --name, resume there next time.',
  flags: {
    stream: streamFlag('stream-offset-tracking'),
    offset: offsetFlag,
    name: {
      type: 'string',
      default: 'offset-tracking-receiver',
      description: 'the name the offset is stored under',
    },
    'store-every': {
      type: 'integer',
      min: 1,
      default: 10,
      description: 'store the offset every this many messages',
    },
    count: countFlag('messages'),
  },
  examples: [
    'npm run lesson:12 -- offset-tracking-receive --count 100',
    'npm run lesson:12 -- offset-tracking-receive --offset 42 --name replay',
  ],
});

/** The offset stored under this name, or undefined the first time (the server answers "no offset", 19). */
async function storedOffset(client: Client, reference: string, stream: string): Promise<bigint | undefined> {
  try {
    // #region query
    return await client.queryOffset({ reference, stream });
    // #endregion
  } catch (error) {
    if (/returned error with code 19\b/.test(String((error as Error).message))) return undefined;
    throw error;
  }
}

/** How long to go on trying to reconnect (a broker restart takes some seconds). */
const RECONNECT_SECONDS = 60;

export async function offsetTrackingReceive(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
) {
  const stream = checkStreamName(options.stream);
  const reference = checkReference(options.name);
  const asked = options.offset === undefined ? undefined : parseOffset(options.offset);
  let next: bigint | undefined; // the next offset to print, once one was printed
  let first: bigint | undefined;
  let read = 0;
  let reconnects = 0;
  let troubleSince: number | undefined; // when reconnecting began to fail, to give up after a while
  while (!signal.aborted) {
    let isLost = false;
    let lost = () => {};
    const connectionLost = new Promise<'lost'>((resolve) => {
      lost = () => {
        isLost = true;
        resolve('lost');
      };
    });
    const client = await connectAgain(log, signal, reconnects, () => lost());
    if (!client) break; // Ctrl+C while reconnecting
    let consumer: Consumer | undefined;
    try {
      await client
        .createStream({ stream, arguments: { 'max-length-bytes': 5_000_000_000 } })
        .catch((error) => unlessAlreadyAStream(client, stream, error));
      const stored = await storedOffset(client, reference, stream);
      // Where to start: after what this run printed; else --offset as asked; else after the stored offset.
      let start: Offset;
      if (next !== undefined) start = Offset.offset(next);
      else if (asked) {
        if (asked.number !== undefined) {
          const end = await lastOffset(client, stream);
          if (asked.number > end + 1n)
            throw new UsageError(
              `--offset ${asked.text} is beyond the end of ${stream}, whose last message is at offset ${end}: use a number from 0 to ${end + 1n}, or next.`,
            );
        }
        start = asked.offset;
        next = asked.number;
      } else if (stored !== undefined) {
        start = Offset.offset(stored + 1n);
        next = stored + 1n;
      } else start = Offset.first();
      if (reconnects === 0)
        log.info(
          ` [*] Reading ${stream} from ${asked ? `--offset ${asked.text}` : stored !== undefined ? `offset ${stored + 1n}, after the offset stored under '${reference}'` : 'the first offset'}. To exit press CTRL+C`,
        );
      else log.info(` [*] Reconnected: reading ${stream} again from offset ${next ?? 'first'}, no gap.`);
      let done = () => {};
      const finished = new Promise<'done'>((resolve) => {
        done = () => resolve('done');
      });
      // #region consume
      // consumerRef: the name the server keeps this reader's offset under.
      consumer = await client.declareConsumer(
        { stream, offset: start, consumerRef: reference },
        (message) => {
          const offset = message.offset!;
          // A read starts at the chunk that holds the offset: skip the messages before it.
          if ((next !== undefined && offset < next) || (options.count && read >= options.count)) return;
          if (first === undefined) first = offset;
          next = offset + 1n;
          read++;
          log.info(` [x] offset ${offset}: ${message.content}`);
          // Storing is a write to the stream: every --store-every messages, not every message.
          if (read % options['store-every'] === 0) consumer?.storeOffset(offset).catch(() => {});
          if (options.count && read >= options.count) done();
        },
      );
      // #endregion
      troubleSince = undefined;
      const stopped = new Promise<'stopped'>((resolve) => {
        if (signal.aborted) resolve('stopped');
        signal.addEventListener('abort', () => resolve('stopped'));
      });
      const why = await Promise.race([finished, stopped, connectionLost]);
      if (why !== 'lost') {
        // #region store
        // Leaving: store the last offset printed, so the next run starts right after it.
        if (next !== undefined) await consumer.storeOffset(next - 1n);
        // #endregion
        break;
      }
    } catch (error) {
      // The connection went while the reader was being set up, or (just after a broker restart)
      // the stream is not available yet: both are reasons to connect again, not to give up.
      if (!isLost && !(reconnects > 0 && notAvailableYet(error))) throw error;
      troubleSince ??= Date.now();
      if (Date.now() - troubleSince > RECONNECT_SECONDS * 1000) throw error;
      if (reconnects > 0) await sleep(1000, undefined, { signal }).catch(() => {});
    } finally {
      // A lost connection may never answer a close: do not wait for it.
      if (isLost) void client.close();
      else await client.close();
    }
    reconnects++;
    log.warn(
      ` [!] The stream connection was lost after offset ${next === undefined ? 'none' : next - 1n}: reconnecting…`,
    );
  }
  const last = next === undefined ? undefined : next - 1n;
  log.success(
    ` [✓] Read ${read} message${read === 1 ? '' : 's'}${first !== undefined ? ` (offsets ${first}–${last})` : ''}; ${last !== undefined ? `stored offset ${last} under '${reference}'` : 'nothing to store'}${reconnects ? `; ${reconnects} reconnect${reconnects === 1 ? '' : 's'}` : ''}.`,
  );
  return { read, first, last, reconnects };
}

/** The stream protocol's "stream not available" (6): its member is still starting after a restart. */
function notAvailableYet(error: unknown): boolean {
  return /returned error with code 6\b/.test(String((error as Error)?.message));
}

/** A client, trying again every second for a while after a lost connection; undefined on Ctrl+C. */
async function connectAgain(log: Log, signal: AbortSignal, reconnects: number, onClosed: () => void) {
  const deadline = Date.now() + RECONNECT_SECONDS * 1000;
  while (true) {
    try {
      return await streamConnect({ log, name: 'lesson 12 offset-tracking-receive', onClosed });
    } catch (error) {
      // The first connection fails with its sentence; after a loss, RabbitMQ may be restarting.
      if (reconnects === 0 || Date.now() > deadline) {
        if (reconnects === 0) throw error;
        throw new CourseError(
          `RabbitMQ's stream port did not come back within ${RECONNECT_SECONDS} s (${(error as Error).message}): run the program again once it answers; it resumes after the stored offset.`,
          { code: 'CLOSED_BY_BROKER' },
        );
      }
      if (signal.aborted) return undefined;
      await sleep(1000, undefined, { signal }).catch(() => {});
      if (signal.aborted) return undefined;
    }
  }
}

runMain(import.meta, program, offsetTrackingReceive, [rabbitmqStream]);
