// Producer: publishes persistent messages with confirms as fast as at-least-once allows, from N
// worker threads (producer-worker.ts), and writes a CSV of message_id,sent_at,acked_at to stdout.

import { brokerTarget } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import type { ProducerResult, ProducerWorkerOptions } from './producer-worker.ts';
import { queueFlags } from './queue.ts';
import { runWorkers } from './threads.ts';

export const program = defineProgram({
  name: 'producer',
  summary:
    'Publish persistent messages with confirms from N workers; CSV message_id,sent_at,acked_at on stdout.',
  flags: {
    workers: {
      type: 'integer',
      min: 1,
      max: 64,
      default: 1,
      description: 'worker threads, each with its own connection',
    },
    size: { type: 'integer', min: 1, max: 134_217_728, default: 1000, description: 'message size in bytes' },
    batch: {
      type: 'integer',
      min: 0,
      default: 0,
      description: 'publish this many, then wait for all their confirms (0 = stream)',
    },
    maxInFlight: {
      type: 'integer',
      min: 1,
      default: 1000,
      description: 'unconfirmed messages allowed when streaming (1 = confirm each)',
    },
    ...queueFlags,
    count: { type: 'integer', min: 1, default: 1000, description: 'messages per worker' },
    runId: { type: 'string', description: 'prefix of the message ids (default: random)' },
    csv: { type: 'boolean', default: true, description: 'write the CSV (--no-csv measures without it)' },
  },
  examples: [
    'npm run --silent lesson:05 -- producer > results/producer.csv',
    'npm run --silent lesson:05 -- producer --workers 4 --size 100 --count 10000 > producer.csv',
  ],
});

type Options = Values<typeof program.flags>;

export async function produce(options: Options, { log, signal }: RunContext): Promise<ProducerResult[]> {
  const worker: ProducerWorkerOptions = {
    ...options,
    ...brokerTarget(options.url),
    runId: options.runId ?? `p${Math.random().toString(36).slice(2, 8)}`,
  };
  const results = await runWorkers<ProducerWorkerOptions, ProducerResult>({
    module: new URL('./producer-worker.ts', import.meta.url),
    count: options.workers,
    options: () => worker,
    signal,
    log,
  });
  const sum = (key: 'confirmed' | 'republished' | 'reconnects' | 'unconfirmed') =>
    results.reduce((n, r) => n + r[key], 0);
  const confirmed = sum('confirmed');
  const seconds =
    (Math.max(...results.map((r) => r.lastAcked)) - Math.min(...results.map((r) => r.firstSent))) / 1000;
  const rate = seconds > 0 ? (confirmed / seconds).toFixed(1) : '–';
  const reconnects = sum('reconnects');
  const unconfirmed = sum('unconfirmed');
  log.success(
    ` [✓] producer: ${confirmed} messages of ${options.size} B confirmed in ${seconds > 0 ? seconds.toFixed(3) : '0'} s = ${rate} msg/s (${options.workers} worker${options.workers > 1 ? 's' : ''}, ${options.batch ? `batches of ${options.batch}` : `streaming ${options.maxInFlight} in flight`}); ${sum('republished')} republished${reconnects ? `, ${reconnects} reconnect${reconnects > 1 ? 's' : ''}` : ''}${unconfirmed ? `; ${unconfirmed} sent but unconfirmed when stopped (not in the CSV; in the queue or not)` : ''}`,
  );
  const wanted = options.count * options.workers;
  if (confirmed < wanted && !signal.aborted)
    throw new CourseError(
      `Only ${confirmed} of ${wanted} messages were confirmed: the CSV lists exactly those; run again for the rest.`,
      { code: 'INCOMPLETE' },
    );
  return results;
}

runMain(import.meta, program, produce);
