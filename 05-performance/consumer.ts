// Consumer: takes messages with manual acks as fast as at-least-once allows, from N worker threads
// (consumer-worker.ts), and writes a CSV of message_id,received_at,acked_at to stdout.

import { brokerTarget } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import type { ConsumerResult, ConsumerWorkerOptions } from './consumer-worker.ts';
import { queueFlags } from './queue.ts';
import { runWorkers } from './threads.ts';

export const program = defineProgram({
  name: 'consumer',
  summary: 'Consume with manual acks from N workers; CSV message_id,received_at,acked_at on stdout.',
  flags: {
    workers: {
      type: 'integer',
      min: 1,
      max: 64,
      default: 1,
      description: 'worker threads, each with its own connection',
    },
    batch: {
      type: 'integer',
      min: 0,
      default: 0,
      description: 'ack every N messages at once (multiple); 0 = ack each',
    },
    prefetch: {
      type: 'integer',
      min: 1,
      default: 1000,
      description: 'unacked messages the broker may push to each worker',
    },
    ...queueFlags,
    count: {
      type: 'integer',
      min: 1,
      description: 'messages to consume in total, then exit (default: until Ctrl+C)',
    },
    csv: { type: 'boolean', default: true, description: 'write the CSV (--no-csv measures without it)' },
  },
  examples: [
    'npm run --silent lesson:05 -- consumer --count 1000 > results/consumer.csv',
    'npm run --silent lesson:05 -- consumer --workers 4 --batch 100 --count 40000 > consumer.csv',
  ],
});

type Options = Values<typeof program.flags>;

export async function consume(options: Options, { log, signal }: RunContext): Promise<ConsumerResult[]> {
  const worker: ConsumerWorkerOptions = {
    ...options,
    ...brokerTarget(options.url),
    counter: new SharedArrayBuffer(4),
  };
  const plural = options.workers > 1 ? 's' : '';
  log.info(
    ` [*] consumer: ${options.workers} worker${plural} on ${options.queue}, waiting for ${options.count ?? 'messages until Ctrl+C'}…`,
  );
  const results = await runWorkers<ConsumerWorkerOptions, ConsumerResult>({
    module: new URL('./consumer-worker.ts', import.meta.url),
    count: options.workers,
    options: () => worker,
    signal,
    log,
  });
  const sum = (key: 'consumed' | 'redelivered' | 'reconnects') => results.reduce((n, r) => n + r[key], 0);
  const consumed = sum('consumed');
  const received = results.filter((r) => r.firstReceived).map((r) => r.firstReceived);
  const seconds = received.length
    ? (Math.max(...results.map((r) => r.lastAcked)) - Math.min(...received)) / 1000
    : 0;
  const reconnects = sum('reconnects');
  log.success(
    ` [✓] consumer: ${consumed} messages received and acked in ${seconds > 0 ? seconds.toFixed(3) : '0'} s = ${seconds > 0 ? (consumed / seconds).toFixed(1) : '–'} msg/s (${options.workers} worker${plural}, ${options.batch ? `ack every ${options.batch}` : 'ack each'}, prefetch ${Math.max(options.prefetch, options.batch)}); ${sum('redelivered')} redelivered${reconnects ? `, ${reconnects} reconnect${reconnects > 1 ? 's' : ''}` : ''}`,
  );
  if (results.some((r) => r.cancelled))
    log.warn(`The queue ${options.queue} was deleted, so RabbitMQ stopped this consumer.`);
  else if (options.count !== undefined && consumed < options.count && !signal.aborted)
    throw new CourseError(
      `Only ${consumed} of ${options.count} messages were consumed: the CSV lists exactly those.`,
      { code: 'INCOMPLETE' },
    );
  return results;
}

runMain(import.meta, program, consume);
