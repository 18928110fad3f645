// Lesson 04's settings in one typed place, each one a flag too. The three programs must agree on
// the queue's arguments, or RabbitMQ refuses the second declaration (406 PRECONDITION_FAILED):
// pace-queue.ts declares it from these settings.

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
