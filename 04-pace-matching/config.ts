// Lesson 04's settings in one typed place, each one a flag too. The three programs must agree on
// the queue's arguments, or RabbitMQ refuses the second declaration (406 PRECONDITION_FAILED).
import type { Broker, Channel } from '../shared/connection.ts';
import { UsageError } from '../shared/errors.ts';

export const pace = {
  queue: 'pace_queue',
  /** Where messages that keep failing end up (the queue's dead-letter target). */
  deadLetterQueue: (queue: string) => `${queue}.dead`,
  eventsExchange: 'pace.events',

  producerRate: 1000,
  batchSize: 50,
  /** Batches waiting for their confirms at once; pipelining keeps the rate when confirms are slow. */
  maxBatchesInFlight: 4,
  minRate: 50,
  decreaseFactor: 0.5,
  increaseStep: 50,

  consumerRate: 100,
  prefetch: 20,
  maxRetries: 3,

  queueLimit: 10_000,
  overflow: 'reject-publish',
  queueType: 'classic',
  /** After a lost connection, how long the programs try the nodes of AMQP_URL before giving up. */
  reconnectSeconds: 30,

  statusSeconds: 1,
  monitorSeconds: 1,
  /** The monitor warns when depth passes this share of the limit. */
  depthWarning: 0.8,
  metricsPort: 8000,
  metricsHost: '127.0.0.1',
} as const;

/** Flags the programs share; each program adds its own. */
export const queueFlags = {
  queue: {
    type: 'string',
    default: pace.queue,
    env: 'PACE_QUEUE',
    description: 'the queue between producer and consumer',
  },
  queueLimit: {
    type: 'integer',
    min: 1,
    default: pace.queueLimit,
    description: 'x-max-length: ready messages the queue holds at most',
  },
  overflow: {
    type: 'string',
    default: pace.overflow,
    choices: ['reject-publish', 'drop-head', 'reject-publish-dlx'],
    description: 'x-overflow: what a full queue does (reject-publish nacks the publisher)',
  },
  queueType: {
    type: 'string',
    default: pace.queueType,
    choices: ['classic', 'quorum'],
    description: 'x-queue-type: quorum replicates the queue; its length limit is soft (see the README)',
  },
  eventsExchange: {
    type: 'string',
    default: pace.eventsExchange,
    description: 'where producer and consumer report to the monitor',
  },
  reconnectSeconds: {
    type: 'number',
    min: 0,
    default: pace.reconnectSeconds,
    description: 'after a lost connection, seconds to try the nodes of AMQP_URL before giving up',
  },
} as const;

export interface QueueSettings {
  queue: string;
  queueLimit: number;
  overflow: string;
  queueType: string;
}

/** Declares the paced queue and its dead-letter queue, the same way in every program. */
export async function declarePaceQueue(channel: Channel, settings: QueueSettings): Promise<void> {
  if (settings.queueType === 'quorum' && settings.overflow === 'reject-publish-dlx')
    throw new UsageError(
      'Quorum queues do not support --overflow reject-publish-dlx: use reject-publish or drop-head.',
    );
  // Only a quorum queue names its type: a classic queue declared before the flag existed has no
  // x-queue-type, and naming it now would be a different declaration (406) on some versions.
  const type = settings.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
  const deadLetters = pace.deadLetterQueue(settings.queue);
  await channel.assertQueue(deadLetters, { durable: true, arguments: type });
  await channel.assertQueue(settings.queue, {
    durable: true,
    arguments: {
      ...type,
      'x-max-length': settings.queueLimit,
      // Without this the default, drop-head, silently throws the oldest messages away.
      'x-overflow': settings.overflow,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadLetters,
    },
  });
}

/** What the producer and consumer tell the monitor, once a status period. */
export type PaceEvent =
  | {
      source: 'producer';
      targetRate: number;
      confirmedRate: number;
      inFlight: number;
      retrying: number;
      /** Back-pressure events since the last report, by kind. */
      backpressure: Record<'nack' | 'drain' | 'blocked', number>;
    }
  | {
      source: 'consumer';
      processed: number;
      latencies: number[];
      ages: number[];
      retried: number;
      dead: number;
    };

export async function declareEvents(channel: Channel, exchange: string): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: false });
}

/**
 * Reports to the monitor on a channel of its own: if the events exchange is deleted, the broker
 * closes that channel (404), and the data channel must not go down with it. Fire and forget:
 * figures for humans, not worth a confirm; a report that fails is dropped and the next one retries.
 */
export function reporter(broker: Broker, exchange: string): (event: PaceEvent) => void {
  let channel: Channel | undefined;
  let opening: Promise<void> | undefined;
  return (event) => {
    if (channel && broker.isOpen(channel)) {
      channel.publish(exchange, event.source, Buffer.from(JSON.stringify(event)));
      return;
    }
    if (opening || broker.closed) return;
    opening = broker
      .channel()
      .then(async (fresh) => {
        await declareEvents(fresh, exchange);
        channel = fresh;
        fresh.publish(exchange, event.source, Buffer.from(JSON.stringify(event)));
      })
      .catch(() => {})
      .finally(() => {
        opening = undefined;
      });
  };
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const finites = (value: unknown): number[] =>
  Array.isArray(value) ? value.filter((item) => finite(item) && item >= 0) : [];

/**
 * Reads an event off the wire. Anything can publish to the exchange: a message that is not one of
 * ours, or a figure that is not a number, is dropped (undefined) instead of reaching the metrics.
 */
export function parseEvent(content: Buffer): PaceEvent | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(content.toString()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (raw?.source === 'producer' && finite(raw.targetRate)) {
    const pressure = (raw.backpressure ?? {}) as Record<string, unknown>;
    const count = (kind: string) => (finite(pressure[kind]) ? Math.max(0, pressure[kind] as number) : 0);
    return {
      source: 'producer',
      targetRate: raw.targetRate,
      confirmedRate: finite(raw.confirmedRate) ? raw.confirmedRate : 0,
      inFlight: finite(raw.inFlight) ? raw.inFlight : 0,
      retrying: finite(raw.retrying) ? raw.retrying : 0,
      backpressure: { nack: count('nack'), drain: count('drain'), blocked: count('blocked') },
    };
  }
  if (raw?.source === 'consumer') {
    return {
      source: 'consumer',
      processed: finite(raw.processed) ? raw.processed : 0,
      latencies: finites(raw.latencies),
      ages: finites(raw.ages),
      retried: finite(raw.retried) ? raw.retried : 0,
      dead: finite(raw.dead) ? raw.dead : 0,
    };
  }
  return undefined;
}
