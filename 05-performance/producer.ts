// Producer: publishes as fast as at-least-once allows, from N worker threads, and writes a CSV of
// message_id,sent_at,acked_at to stdout.
import { once } from 'node:events';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { brokerUrl, connect } from '../shared/connection.ts';
import { nowMs } from '../shared/pacer.ts';
import { runThreads, serveThread, type ThreadContext } from '../shared/threads.ts';

/** The flags producer and consumer share: where the messages go, and how that queue is declared. */
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
  url: { type: 'string', description: 'the broker, amqp://user:pass@host:port (default AMQP_URL)' },
} as const;

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
    'npm run lesson:05 -- producer > results/producer.csv',
    'npm run lesson:05 -- producer --workers 4 --size 100 --count 10000 > producer.csv',
  ],
});

type Options = Values<typeof program.flags>;
export interface WorkerOptions extends Options {
  url: string;
  runId: string;
}
export interface WorkerResult {
  confirmed: number;
  republished: number;
  firstSent: number;
  lastAcked: number;
}

export function queueArguments(queueType: string) {
  return { durable: true, arguments: { 'x-queue-type': queueType } };
}

/** One worker: its own connection and confirm channel; every message confirmed before it returns. */
export async function produceWorker(
  options: WorkerOptions,
  { index, emit, signal }: ThreadContext,
): Promise<WorkerResult> {
  const broker = await connect({ urls: [options.url], name: `lesson 05 producer ${index}` });
  try {
    const channel = await broker.confirmChannel();
    await channel.assertQueue(options.queue, queueArguments(options.queueType));
    const body = Buffer.alloc(options.size, 'x');
    const prefix = `${options.runId}-${index}-`;
    let inFlight = 0;
    let confirmed = 0;
    let republished = 0;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const firstSent = nowMs();
    let lastAcked = firstSent;

    const send = (id: string, sentAt: number): boolean => {
      inFlight++;
      return channel.sendToQueue(options.queue, body, { persistent: true, messageId: id }, (error) => {
        inFlight--;
        if (!error) {
          confirmed++;
          lastAcked = nowMs();
          if (options.csv) emit(`${id},${sentAt.toFixed(3)},${lastAcked.toFixed(3)}\n`);
        } else if (broker.isOpen(channel)) {
          republished++; // nacked: the same id again, so the CSV still has it once
          send(id, sentAt);
        } else {
          failure ??= broker.channelErrors.get(channel) ?? error;
        }
        const waiting = wake;
        wake = undefined;
        waiting?.();
      });
    };
    const settle = (limit: number) =>
      new Promise<void>((resolve) => {
        if (inFlight <= limit || failure) return resolve();
        wake = () => settle(limit).then(resolve);
      });

    for (let seq = 1; seq <= options.count && !signal.aborted && !failure; seq++) {
      // Streaming keeps a window of unconfirmed messages; batching empties it every `batch`.
      if (options.batch === 0 && inFlight >= options.maxInFlight) await settle(options.maxInFlight - 1);
      const written = send(`${prefix}${seq}`, nowMs());
      if (!written) await once(channel, 'drain'); // the client's buffer is full: wait, never resend
      if (options.batch > 0 && seq % options.batch === 0) await settle(0);
    }
    await settle(0); // every message confirmed before we report
    if (failure) throw failure;
    return { confirmed, republished, firstSent, lastAcked };
  } finally {
    await broker.close();
  }
}

serveThread('produce', produceWorker);

export async function produce(options: Options, { log, signal }: RunContext): Promise<WorkerResult[]> {
  const url = brokerUrl(options.url);
  const runId = options.runId ?? `p${Math.random().toString(36).slice(2, 8)}`;
  const results = await runThreads(
    import.meta.url,
    'produce',
    options.workers,
    () => ({ ...options, url, runId }),
    produceWorker,
    signal,
  );
  const confirmed = results.reduce((sum, r) => sum + r.confirmed, 0);
  const seconds =
    (Math.max(...results.map((r) => r.lastAcked)) - Math.min(...results.map((r) => r.firstSent))) / 1000;
  const republished = results.reduce((sum, r) => sum + r.republished, 0);
  log.success(
    ` [✓] producer: ${confirmed} messages of ${options.size} B confirmed in ${seconds.toFixed(3)} s = ${(confirmed / seconds).toFixed(1)} msg/s (${options.workers} worker${options.workers > 1 ? 's' : ''}, ${options.batch ? `batches of ${options.batch}` : `streaming ${options.maxInFlight} in flight`}); ${republished} republished`,
  );
  return results;
}

runMain(import.meta, program, produce);
