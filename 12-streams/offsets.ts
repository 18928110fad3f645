// What lesson 12's readers share: where to start reading (--offset) and the name an offset is
// stored under (--name), checked before the broker is asked, so a typo gets one sentence.
import { type Client, Offset } from 'rabbitmq-stream-js-client';
import { UsageError } from '../shared/errors.ts';

/** --offset as the learner wrote it, and what it means for the stream protocol and AMQP 0-9-1. */
export interface StartAt {
  text: string;
  /** For the stream protocol. */
  offset: Offset;
  /** For AMQP 0-9-1's x-stream-offset consumer argument. */
  amqp: string | number | Date;
  /** Set when --offset is a number, to check it against the stream's end. */
  number?: bigint;
}

export const offsetFlag = {
  type: 'string',
  description:
    'where to start (default first): first, last (the last chunk), next (only new ones), an offset (0, 1…) or a time (2026-12-04T10:00:00Z)',
} as const;

export function parseOffset(text: string): StartAt {
  if (text === 'first' || text === 'last' || text === 'next')
    return { text, offset: Offset[text](), amqp: text };
  if (/^\d+$/.test(text)) {
    const number = BigInt(text);
    return { text, offset: Offset.offset(number), amqp: Number(number), number };
  }
  if (/^-\d+$/.test(text))
    throw new UsageError(
      `--offset ${text} is negative: offsets count from 0, the stream's first message; use first, last, next, 0, 1…`,
    );
  // A time: ISO 8601 with a date, as Date reads it; the stream starts at the first chunk written then or later.
  const time = /^\d{4}-\d\d-\d\d/.test(text) ? new Date(text) : undefined;
  if (time && !Number.isNaN(time.getTime())) return { text, offset: Offset.timestamp(time), amqp: time };
  throw new UsageError(
    `--offset '${text}' is not an offset: use first, last, next, a number (0 is the first message) or a time such as 2026-12-04T10:00:00Z.`,
  );
}

/** The server stores offsets under a reference of 1 to 255 bytes (the protocol's short string). */
export function checkReference(name: string): string {
  if (name === '')
    throw new UsageError(
      '--name is empty: the offset is stored under this name; give one such as my-reader.',
    );
  if (Buffer.byteLength(name) > 255)
    throw new UsageError(
      `--name is ${Buffer.byteLength(name)} bytes long, and RabbitMQ stores offsets under names of at most 255 bytes: choose a shorter one.`,
    );
  return name;
}

/** The tutorial's stream name rules are RabbitMQ's queue name rules: up to 255 bytes, not empty. */
export function checkStreamName(name: string): string {
  if (name === '' || Buffer.byteLength(name) > 255)
    throw new UsageError(
      `--stream must be 1 to 255 bytes long (it is ${Buffer.byteLength(name)}): give a name such as hello-stream.`,
    );
  if (name.startsWith('amq.'))
    throw new UsageError(
      `--stream '${name}' starts with amq., which RabbitMQ keeps for itself: choose another name.`,
    );
  return name;
}

export const streamFlag = (name: string) =>
  ({ type: 'string', default: name, description: 'the stream to use' }) as const;

/**
 * For createStream(…).catch(): RabbitMQ refuses (code 17) to declare a stream whose name is taken
 * by a queue, or by a stream made with other arguments (retention's demo). The second is a stream
 * all the same, to read or append to as it is; the first goes on as the refusal's sentence.
 */
export async function unlessAlreadyAStream(client: Client, stream: string, error: unknown): Promise<void> {
  if (/returned error with code 17\b/.test(String((error as Error)?.message))) {
    const [found] = await client.queryMetadata({ streams: [stream] });
    if (found?.responseCode === 1) return; // 1: OK, a stream, with its leader
  }
  throw error;
}
