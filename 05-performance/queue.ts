// The queue between producer and consumer: the flags that name it and how it is declared. Both
// programs declare it the same way, so either may start first.
export const queueFlags = {
  queue: {
    type: 'string',
    default: 'perf_queue',
    env: 'QUEUE',
    description: 'the queue between producer and consumer',
  },
  queueType: {
    type: 'string',
    default: 'classic',
    choices: ['classic', 'quorum'],
    description: 'the queue type',
  },
  url: {
    type: 'string',
    description:
      'the broker, amqp://user:pass@host:port (default AMQP_URL, whose node list is tried in turn)',
  },
} as const;

/** Durable, so persistent messages survive a broker restart; the type is the experiment's knob. */
export function queueArguments(queueType: string) {
  return { durable: true, arguments: { 'x-queue-type': queueType } };
}
