// Slow consumer: processes at a fixed rate, acks after the work, retries failures a few times, then dead-letters them.
import { setMaxListeners } from 'node:events';
import { type Channel, type ConfirmChannel, type ConsumeMessage, connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { nowMs, Pacer } from '../shared/pacer.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { everyPeriod } from '../shared/status-line.ts';
import { pace, queueFlags } from './config.ts';
import { reporter } from './events.ts';
import { declarePaceQueue } from './pace-queue.ts';

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

export interface ConsumerSummary {
  processed: number;
  retried: number;
  dead: number;
}

export async function consumeSlowly(options: Options, { log, signal }: RunContext): Promise<ConsumerSummary> {
  const connection = await connect({
    log,
    recover: true,
    name: `lesson 04 slow-consumer (pid ${process.pid})`,
  });
  const pacer = new Pacer(options.rate);
  // Each delivery in hand (up to the prefetch) waits its turn on the pacer, listening for Ctrl+C.
  setMaxListeners(options.prefetch + 10, signal);
  const totals = { processed: 0, retried: 0, dead: 0 };
  const period = new ConsumerPeriod();
  const report = reporter(connection, options.eventsExchange);
  let side: ConfirmChannel | undefined; // for retries; rebuilt after a reconnect
  const sideChannel = async () => {
    if (!side || !connection.isOpen(side)) side = await connection.confirmChannel();
    return side;
  };

  const stopStatus = everyPeriod(log, options.statusSeconds, (elapsed) => {
    const line = period.line(elapsed, totals.processed);
    report(period.event());
    period.reset();
    return line;
  });

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
    log.error(
      ` [✗] message ${seq} failed ${attempts + 1} times (1 try + ${attempts} retries); dead-lettered to ${pace.deadLetterQueue(options.queue)}`,
    );
  };

  let announced = false;
  try {
    // The setup runs again on a fresh channel after every reconnect (keepConsuming sees to that).
    await keepConsuming(
      connection,
      async (channel) => {
        await declarePaceQueue(channel, options);
        await channel.prefetch(options.prefetch); // at most this many unacked messages pushed to us
        if (!announced)
          log.info(
            ` [*] Consuming ${options.queue} at ${options.rate || 'full speed'} msg/s (prefetch ${options.prefetch}). To stop press CTRL+C`,
          );
        announced = true;
        return channel.consume(options.queue, async (message) => {
          if (!message) return; // the broker cancelled us (queue deleted)
          const started = performance.now();
          const seq = Number(message.properties.headers?.['x-seq']);
          await pacer.take(1, signal); // the work: this consumer's pace
          if (options.failEvery && seq % options.failEvery === 0) {
            await retryOrBury(message, channel, seq, `--fail-every ${options.failEvery}`);
            return;
          }
          channel.ack(message); // after the work: a message we die holding goes back to the queue
          totals.processed++;
          period.processed(seq, performance.now() - started, message.properties.headers?.['x-published-at']);
          log.debug(` [.] message ${seq} processed`); // each one, with --debug
        });
      },
      { count: options.count, signal, log },
    );
  } finally {
    stopStatus();
    await connection.close();
  }
  log.success(` [✓] ${totals.processed} processed, ${totals.retried} retries, ${totals.dead} dead-lettered.`);
  return totals;
}

/** One status period's figures: the status line and the monitor's event. */
class ConsumerPeriod {
  private count = 0;
  private latencies: number[] = [];
  private ages: number[] = [];
  private seqs: number[] = [];
  retried = 0;
  dead = 0;

  processed(seq: number, latencyMs: number, publishedAt: unknown): void {
    this.count++;
    this.latencies.push(latencyMs / 1000);
    // A message from elsewhere may carry no publish time: no age, rather than NaN.
    const age = (nowMs() - Number(publishedAt)) / 1000;
    if (typeof publishedAt === 'number' && Number.isFinite(age)) this.ages.push(age);
    if (Number.isFinite(seq)) this.seqs.push(seq);
  }

  line(seconds: number, total: number): string {
    const meanAge = this.ages.length ? this.ages.reduce((a, b) => a + b, 0) / this.ages.length : 0;
    const seqs = this.seqs.length ? `  seq ${Math.min(...this.seqs)}–${Math.max(...this.seqs)}` : '';
    return ` [<] processed ${Math.round(this.count / seconds)}/s  mean age ${meanAge.toFixed(2)} s  retried ${this.retried}  dead-lettered ${this.dead}  total ${total}${seqs}`;
  }

  event() {
    return {
      source: 'consumer' as const,
      processed: this.count,
      latencies: this.latencies,
      ages: this.ages,
      retried: this.retried,
      dead: this.dead,
    };
  }

  reset(): void {
    this.count = this.retried = this.dead = 0;
    this.latencies = [];
    this.ages = [];
    this.seqs = [];
  }
}

runMain(import.meta, program, consumeSlowly);
