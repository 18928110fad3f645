// Fast producer: publishes at a steady rate in confirmed batches, and slows down when RabbitMQ pushes back.
import { once } from 'node:events';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { type ConfirmChannel, connect } from '../shared/connection.ts';
import { nowMs, Pacer } from '../shared/pacer.ts';
import { declarePaceQueue, pace, queueFlags, reporter } from './config.ts';

export const program = defineProgram({
  name: 'fast-producer',
  summary:
    'Publish numbered messages at a target rate in confirmed batches, adapting the rate to back-pressure.',
  flags: {
    ...queueFlags,
    rate: { type: 'number', min: 1, default: pace.producerRate, description: 'target messages per second' },
    batchSize: {
      type: 'integer',
      min: 1,
      default: pace.batchSize,
      description: 'messages per batch; each batch waits for its confirms',
    },
    maxBatchesInFlight: {
      type: 'integer',
      min: 1,
      default: pace.maxBatchesInFlight,
      description: 'batches awaiting confirms at once',
    },
    minRate: {
      type: 'number',
      min: 1,
      default: pace.minRate,
      description: 'the rate never falls below this',
    },
    decreaseFactor: {
      type: 'number',
      min: 0.01,
      max: 0.99,
      default: pace.decreaseFactor,
      description: 'rate × this on each nacked batch',
    },
    increaseStep: {
      type: 'number',
      min: 1,
      default: pace.increaseStep,
      description: 'rate + this each calm status period',
    },
    statusSeconds: {
      type: 'number',
      min: 0.05,
      default: pace.statusSeconds,
      description: 'seconds between status lines',
    },
    count: { type: 'integer', min: 1, description: 'stop once this many messages are confirmed' },
  },
  examples: [
    'npm run lesson:04 -- fast-producer',
    'npm run lesson:04 -- fast-producer --rate 2000 --count 10000',
  ],
});

type Options = Values<typeof program.flags>;

interface Outgoing {
  seq: number;
  attempts: number;
}

export interface ProducerStatus {
  targetRate: number;
  /** Confirmed messages per second over the last status period. */
  confirmedRate: number;
  confirmed: number;
  nacks: number;
  inFlight: number;
  retrying: number;
}

export interface ProducerHooks {
  onConfirmed?: (seq: number, at: number) => void;
  onStatus?: (status: ProducerStatus) => void;
  onBackpressure?: (kind: 'nack' | 'drain' | 'blocked' | 'unblocked') => void;
}

export interface ProducerSummary {
  confirmed: number;
  /** Messages the broker nacked and that were not yet republished when the producer stopped. */
  unconfirmed: number[];
  nacks: number;
  /** Confirmed messages per second, from the first confirm to the last. */
  rate: number;
}

export async function produce(
  options: Options,
  { log, signal }: RunContext,
  hooks: ProducerHooks = {},
): Promise<ProducerSummary> {
  const broker = await connect({ log, name: 'lesson 04 fast-producer' });
  const pacer = new Pacer(options.rate);
  const retries: Outgoing[] = []; // nacked: republished first, never dropped
  const pressure = { nack: 0, drain: 0, blocked: 0 };
  let nextSeq = 1;
  let confirmed = 0;
  let nacks = 0;
  let inFlight = 0;
  let confirmedThisPeriod = 0;
  let nackedThisPeriod = 0;
  let firstConfirmAt = 0;
  let lastConfirmAt = 0;
  let firstBatch = 0;
  let blocked: Promise<unknown> | undefined;

  // A memory or disk alarm blocks every publishing connection: pause until the broker unblocks us.
  broker.on('blocked', (reason: string) => {
    pressure.blocked++;
    hooks.onBackpressure?.('blocked');
    log.warn(` [!] RabbitMQ blocked publishing (${reason}): pausing.`);
    blocked = once(broker, 'unblocked').then(() => {
      hooks.onBackpressure?.('unblocked');
      log.info(' [*] RabbitMQ unblocked publishing: resuming.');
    });
  });

  const setRate = (rate: number, why: string) => {
    const next = Math.round(Math.max(options.minRate, Math.min(options.rate, rate)));
    if (next === pacer.rate) return;
    log.info(` [~] target rate ${pacer.rate} → ${next} msg/s (${why})`);
    pacer.setRate(next);
  };

  const status = (): ProducerStatus => ({
    targetRate: pacer.rate,
    confirmedRate: confirmedThisPeriod / options.statusSeconds,
    confirmed,
    nacks,
    inFlight,
    retrying: retries.length,
  });

  const report = reporter(broker, options.eventsExchange);
  const ticker = setInterval(() => {
    // Recover step by step: a calm period (no nacks) earns one increase.
    if (nackedThisPeriod === 0 && retries.length === 0 && pacer.rate < options.rate)
      setRate(pacer.rate + options.increaseStep, 'pressure eased');
    const now = status();
    log.info(
      ` [>] target ${now.targetRate}/s confirmed ${Math.round(now.confirmedRate)}/s nacks ${now.nacks} in flight ${now.inFlight} retrying ${now.retrying} total ${now.confirmed}`,
    );
    hooks.onStatus?.(now);
    report({
      source: 'producer',
      targetRate: now.targetRate,
      confirmedRate: now.confirmedRate,
      inFlight: now.inFlight,
      retrying: now.retrying,
      backpressure: { ...pressure },
    });
    pressure.nack = pressure.drain = pressure.blocked = 0;
    confirmedThisPeriod = 0;
    nackedThisPeriod = 0;
  }, options.statusSeconds * 1000);

  const publishBatch = async (confirmChannel: ConfirmChannel, batch: Outgoing[]) => {
    let full = false;
    inFlight += batch.length;
    const results = batch.map(
      (message) =>
        new Promise<boolean>((resolve) => {
          message.attempts++;
          const body = Buffer.from(JSON.stringify({ seq: message.seq, publishedAt: nowMs() }));
          const written = confirmChannel.sendToQueue(
            options.queue,
            body,
            {
              persistent: true,
              messageId: String(message.seq),
              headers: { 'x-seq': message.seq, 'x-published-at': nowMs() },
            },
            (error) => resolve(!error),
          ); // error: the broker nacked it (queue full) or the channel closed
          if (!written) full = true;
        }),
    );
    // sendToQueue returned false: the client's buffer is full. The message *is* buffered (never
    // resend it); wait for 'drain' before the next batch.
    if (full) {
      pressure.drain++;
      hooks.onBackpressure?.('drain');
      await once(confirmChannel, 'drain');
    }
    const outcomes = await Promise.all(results);
    inFlight -= batch.length;
    let nackedHere = 0;
    const at = performance.now();
    outcomes.forEach((ok, i) => {
      const message = batch[i]!;
      if (ok) {
        confirmed++;
        confirmedThisPeriod++;
        hooks.onConfirmed?.(message.seq, at);
      } else {
        nackedHere++;
        retries.push(message);
      }
    });
    if (nackedHere < batch.length) {
      // The rate is measured from the end of the first confirmed batch to the last confirm.
      if (!firstConfirmAt) {
        firstConfirmAt = at;
        firstBatch = confirmed;
      }
      lastConfirmAt = at;
    }
    if (nackedHere > 0) {
      nacks += nackedHere;
      nackedThisPeriod += nackedHere;
      pressure.nack += nackedHere;
      hooks.onBackpressure?.('nack');
      setRate(pacer.rate * options.decreaseFactor, `${nackedHere} nacked: the queue is full`);
    }
  };

  const batches = new Set<Promise<void>>();
  try {
    const channel = await broker.confirmChannel();
    await declarePaceQueue(channel, options);
    log.info(
      ` [*] Publishing to ${options.queue} at ${options.rate} msg/s in batches of ${options.batchSize} (limit ${options.queueLimit}, ${options.overflow}). To stop press CTRL+C`,
    );
    const done = () => options.count !== undefined && confirmed >= options.count;
    while (!signal.aborted && !done()) {
      if (blocked) await Promise.race([blocked, once(signal, 'abort')]).catch(() => {});
      blocked = undefined;
      if (signal.aborted) break;
      // Retries first; new messages only when nothing waits, so pressure reaches the source.
      const batch = retries.splice(0, options.batchSize);
      while (
        batch.length < options.batchSize &&
        retries.length === 0 &&
        (options.count === undefined || nextSeq <= options.count)
      ) {
        batch.push({ seq: nextSeq++, attempts: 0 });
      }
      if (batch.length === 0) {
        await Promise.race(batches); // everything sent; waiting for the last confirms
        continue;
      }
      await pacer.take(batch.length, signal).catch(() => {});
      if (signal.aborted) {
        retries.unshift(...batch.filter((message) => message.attempts > 0)); // new ones were never sent
        break;
      }
      const sending = publishBatch(channel, batch);
      batches.add(sending);
      void sending.finally(() => batches.delete(sending));
      if (batches.size >= options.maxBatchesInFlight) await Promise.race(batches);
    }
    await Promise.all(batches); // what is in flight gets its answer before we go
  } finally {
    clearInterval(ticker);
    await broker.close();
  }
  const summary: ProducerSummary = {
    confirmed,
    unconfirmed: retries.map((m) => m.seq).sort((a, b) => a - b),
    nacks,
    rate:
      lastConfirmAt > firstConfirmAt
        ? ((confirmed - firstBatch) * 1000) / (lastConfirmAt - firstConfirmAt)
        : 0,
  };
  log.success(
    ` [✓] ${confirmed} messages confirmed at ${summary.rate.toFixed(1)} msg/s; ${nacks} nacks along the way${summary.unconfirmed.length ? `; ${summary.unconfirmed.length} nacked messages were not republished before the stop (they are not in the queue)` : ''}.`,
  );
  return summary;
}

runMain(import.meta, program, produce);
