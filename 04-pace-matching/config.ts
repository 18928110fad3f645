// Lesson 04's settings in one typed place, each one a flag too. The three programs must agree on
// the queue's arguments, or RabbitMQ refuses the second declaration (406 PRECONDITION_FAILED).
import type { Broker, Channel } from '../shared/connection.ts';

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
  eventsExchange: {
    type: 'string',
    default: pace.eventsExchange,
    description: 'where producer and consumer report to the monitor',
  },
} as const;

export interface QueueSettings {
  queue: string;
  queueLimit: number;
  overflow: string;
}

/** Declares the paced queue and its dead-letter queue, the same way in every program. */
export async function declarePaceQueue(channel: Channel, settings: QueueSettings): Promise<void> {
  const deadLetters = pace.deadLetterQueue(settings.queue);
  await channel.assertQueue(deadLetters, { durable: true });
  await channel.assertQueue(settings.queue, {
    durable: true,
    arguments: {
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
