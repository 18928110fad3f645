// Consumer: takes messages as fast as at-least-once allows, from N worker threads, and writes a CSV
// of message_id,received_at,acked_at to stdout.
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { brokerUrl, type ConsumeMessage, connect } from '../shared/connection.ts';
import { nowMs } from '../shared/pacer.ts';
import { runThreads, serveThread, type ThreadContext } from '../shared/threads.ts';
import { queueArguments, queueFlags } from './producer.ts';

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
    'npm run lesson:05 -- consumer --count 1000 > results/consumer.csv',
    'npm run lesson:05 -- consumer --workers 4 --batch 100 --count 40000 > consumer.csv',
  ],
});

type Options = Values<typeof program.flags>;
interface WorkerOptions extends Options {
  url: string;
  /** Counts messages across all threads, so --count is a total. */
  counter: SharedArrayBuffer;
}
export interface WorkerResult {
  consumed: number;
  firstReceived: number;
  lastAcked: number;
}

export async function consumeWorker(
  options: WorkerOptions,
  { index, emit, signal, finishedAll }: ThreadContext,
): Promise<WorkerResult> {
  const counter = new Int32Array(options.counter);
  const total = options.count ?? Number.POSITIVE_INFINITY;
  const broker = await connect({ urls: [options.url], name: `lesson 05 consumer ${index}` });
  let consumed = 0;
  let firstReceived = 0;
  let lastAcked = 0;
  try {
    const channel = await broker.channel();
    await channel.assertQueue(options.queue, queueArguments(options.queueType));
    await channel.prefetch(Math.max(options.prefetch, options.batch));
    let pending: string[] = []; // id,received_at of messages received but not acked yet
    let last: ConsumeMessage | undefined;
    const ack = () => {
      if (!last) return;
      channel.ack(last, options.batch > 0); // multiple: everything up to this delivery tag
      lastAcked = nowMs();
      if (options.csv) emit(pending.map((row) => `${row},${lastAcked.toFixed(3)}\n`).join(''));
      pending = [];
      last = undefined;
    };
    const done = new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => resolve(), { once: true });
      void channel.consume(options.queue, (message) => {
        if (!message) return resolve(); // the queue was deleted
        // Past the total: leave it unacked; closing the channel gives it back to the queue.
        if (Atomics.add(counter, 0, 1) >= total) return;
        const receivedAt = nowMs();
        firstReceived ||= receivedAt;
        consumed++;
        pending.push(`${message.properties.messageId},${receivedAt.toFixed(3)}`);
        last = message;
        if (options.batch === 0 || pending.length >= options.batch) ack();
        if (Atomics.load(counter, 0) >= total) {
          ack();
          finishedAll();
        }
      });
    });
    await done;
    ack(); // the tail of a batch
    const error = broker.channelErrors.get(channel);
    if (error) throw error;
    return { consumed, firstReceived, lastAcked };
  } finally {
    await broker.close();
  }
}

serveThread('consume', consumeWorker);

export async function consume(options: Options, { log, signal }: RunContext): Promise<WorkerResult[]> {
  const url = brokerUrl(options.url);
  const counter = new SharedArrayBuffer(4);
  log.info(
    ` [*] consumer: ${options.workers} worker${options.workers > 1 ? 's' : ''} on ${options.queue}, waiting for ${options.count ?? 'messages until Ctrl+C'}…`,
  );
  const results = await runThreads(
    import.meta.url,
    'consume',
    options.workers,
    () => ({ ...options, url, counter }),
    consumeWorker,
    signal,
  );
  const consumed = results.reduce((sum, r) => sum + r.consumed, 0);
  const started = Math.min(...results.filter((r) => r.firstReceived).map((r) => r.firstReceived));
  const seconds = (Math.max(...results.map((r) => r.lastAcked)) - started) / 1000;
  log.success(
    ` [✓] consumer: ${consumed} messages received and acked in ${seconds > 0 ? seconds.toFixed(3) : '0'} s = ${seconds > 0 ? (consumed / seconds).toFixed(1) : '–'} msg/s (${options.workers} worker${options.workers > 1 ? 's' : ''}, ${options.batch ? `ack every ${options.batch}` : 'ack each'}, prefetch ${Math.max(options.prefetch, options.batch)})`,
  );
  return results;
}

runMain(import.meta, program, consume);
