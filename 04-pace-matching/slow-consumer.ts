// Slow consumer: processes at a fixed rate, acks after the work, retries failures a few times, then dead-letters them.
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import {
  type Channel,
  type ConfirmChannel,
  type ConsumeMessage,
  connect,
  consume,
} from '../shared/connection.ts';
import { nowMs, Pacer } from '../shared/pacer.ts';
import { declarePaceQueue, pace, queueFlags, reporter } from './config.ts';

export const program = defineProgram({
  name: 'slow-consumer',
  summary:
    'Consume the paced queue at a fixed rate, tracking each message’s age; failing messages are retried, then dead-lettered.',
  flags: {
    ...queueFlags,
    rate: {
      type: 'number',
      min: 0,
      default: pace.consumerRate,
      description: 'messages processed per second (0 = as fast as possible)',
    },
    prefetch: {
      type: 'integer',
      min: 1,
      default: pace.prefetch,
      description: 'unacked messages RabbitMQ may push to us',
    },
    maxRetries: {
      type: 'integer',
      min: 0,
      default: pace.maxRetries,
      description: 'retries of a failing message before it is dead-lettered',
    },
    failEvery: {
      type: 'integer',
      min: 1,
      description: 'make every Nth message (by sequence number) fail, to watch retries',
    },
    statusSeconds: {
      type: 'number',
      min: 0.05,
      default: pace.statusSeconds,
      description: 'seconds between status lines',
    },
    count: {
      type: 'integer',
      min: 1,
      description: 'stop after handling this many messages (processed, retried or dead-lettered)',
    },
  },
  examples: ['npm run lesson:04 -- slow-consumer', 'npm run lesson:04 -- slow-consumer --fail-every 50'],
});

type Options = Values<typeof program.flags>;

export interface ConsumerHooks {
  onProcessed?: (seq: number, message: ConsumeMessage) => void;
  onDeadLettered?: (seq: number) => void;
}

export interface ConsumerSummary {
  processed: number;
  retried: number;
  dead: number;
}

export async function consumeSlowly(
  options: Options,
  { log, signal }: RunContext,
  hooks: ConsumerHooks = {},
): Promise<ConsumerSummary> {
  const broker = await connect({ log, recover: true, name: 'lesson 04 slow-consumer' });
  const pacer = new Pacer(options.rate);
  const totals = { processed: 0, retried: 0, dead: 0 };
  let period = { processed: 0, latencies: [] as number[], ages: [] as number[], retried: 0, dead: 0 };
  const report = reporter(broker, options.eventsExchange);
  let side: ConfirmChannel | undefined; // for retries; rebuilt after a reconnect
  const sideChannel = async () => {
    if (!side || !broker.isOpen(side)) side = await broker.confirmChannel();
    return side;
  };

  const ticker = setInterval(() => {
    const ages = period.ages;
    const meanAge = ages.length ? ages.reduce((a, b) => a + b, 0) / ages.length : 0;
    log.info(
      ` [<] processed ${Math.round(period.processed / options.statusSeconds)}/s  mean age ${meanAge.toFixed(2)} s  retried ${period.retried}  dead-lettered ${period.dead}  total ${totals.processed}`,
    );
    report({ source: 'consumer', ...period });
    period = { processed: 0, latencies: [], ages: [], retried: 0, dead: 0 };
  }, options.statusSeconds * 1000);

  const retryOrBury = async (message: ConsumeMessage, channel: Channel, seq: number, why: string) => {
    const attempts = Number(message.properties.headers?.['x-retries'] ?? 0);
    if (attempts < options.maxRetries) {
      // Republish to the back of the queue and ack the original: the queue keeps flowing, where a
      // nack with requeue would put the same message straight back at the head.
      const retry = await sideChannel();
      retry.sendToQueue(options.queue, message.content, {
        ...message.properties,
        headers: { ...message.properties.headers, 'x-retries': attempts + 1 },
      });
      try {
        await retry.waitForConfirms();
      } catch {
        channel.nack(message, false, true); // the queue is full: put it back rather than lose it
        return;
      }
      channel.ack(message);
      totals.retried++;
      period.retried++;
      log.warn(` [!] message ${seq} failed (${why}); retry ${attempts + 1} of ${options.maxRetries}`);
      return;
    }
    // Out of retries: nack without requeue, and the queue's dead-letter settings move it.
    channel.nack(message, false, false);
    totals.dead++;
    period.dead++;
    hooks.onDeadLettered?.(seq);
    log.error(
      ` [✗] message ${seq} failed ${attempts + 1} times; dead-lettered to ${pace.deadLetterQueue(options.queue)}`,
    );
  };

  try {
    await consume(
      broker,
      {
        queue: options.queue,
        setup: (channel) => declarePaceQueue(channel, options),
        prefetch: options.prefetch,
        serial: true, // one at a time, at the configured pace
        count: options.count,
        signal,
        log,
        onReady: () =>
          log.info(
            ` [*] Consuming ${options.queue} at ${options.rate || 'full speed'} msg/s (prefetch ${options.prefetch}). To stop press CTRL+C`,
          ),
      },
      async (message, channel) => {
        const started = performance.now();
        const seq = Number(message.properties.headers?.['x-seq']);
        const publishedAt = Number(message.properties.headers?.['x-published-at']);
        await pacer.take(1, signal); // the work: this consumer's pace
        if (options.failEvery && seq % options.failEvery === 0) {
          await retryOrBury(message, channel, seq, `--fail-every ${options.failEvery}`);
          return;
        }
        channel.ack(message);
        totals.processed++;
        period.processed++;
        period.latencies.push((performance.now() - started) / 1000);
        period.ages.push((nowMs() - publishedAt) / 1000);
        hooks.onProcessed?.(seq, message);
      },
    );
  } finally {
    clearInterval(ticker);
    await broker.close();
  }
  log.success(` [✓] ${totals.processed} processed, ${totals.retried} retries, ${totals.dead} dead-lettered.`);
  return totals;
}

runMain(import.meta, program, consumeSlowly);
