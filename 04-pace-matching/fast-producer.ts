// Fast producer: publishes at a steady rate in confirmed batches, and slows down when RabbitMQ pushes back.
import { once } from 'node:events';
import { type ConfirmChannel, type Connection, connect } from '../shared/connection.ts';
import { CourseError, explain } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { afterAbort } from '../shared/grace.ts';
import type { Log } from '../shared/logger.ts';
import { nowMs } from '../shared/pacer.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { keepPublishing } from '../shared/publish.ts';
import { maskUrl } from '../shared/secrets.ts';
import { everyPeriod } from '../shared/status-line.ts';
import { AdaptiveRate } from './adaptive-rate.ts';
import { pace, queueFlags } from './config.ts';
import { type PaceEvent, reporter } from './events.ts';
import { declarePaceQueue } from './pace-queue.ts';
import { ProducerTally, statusLine } from './producer-tally.ts';

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

export type { ProducerStatus } from './producer-tally.ts';

/** One message of the run: its number and the time it was first published, kept across retries. */
interface Outgoing {
  seq: number;
  publishedAt: number;
  /** Handed to the broker at least once (a message made but never sent is not 'unconfirmed'). */
  sent?: boolean;
}

export interface ProducerSummary {
  confirmed: number;
  /** Messages not confirmed when the producer stopped (nacked, or their connection closed). */
  unconfirmed: number[];
  nacks: number;
  /** Messages the broker returned because no queue took them. */
  returned: number;
  reconnects: number;
  /** Confirmed messages per second, from the first confirm to the last. */
  rate: number;
}

/** After Ctrl+C, how long what is in flight may wait for its confirms (and the close for its answer). */
const STOP_GRACE_SECONDS = 5;

/** One connection's confirm channel and what the broker told us on it. */
interface Link {
  connection: Connection;
  channel: ConfirmChannel;
  /** Resolves when the channel closes: every wait races it, since a dead channel never drains. */
  lost: Promise<void>;
  /** Ids of messages the broker returned (unroutable); their confirm follows. */
  returned: Set<string>;
  returnedSinceDeclare: number;
  /** Set while a memory or disk alarm blocks publishing; settles on unblocked (or the close). */
  blocked?: Promise<unknown>;
}

export async function produce(options: Options, { log, signal }: RunContext): Promise<ProducerSummary> {
  const name = `lesson 04 fast-producer (pid ${process.pid})`;
  const producer = new Producer(options, log, signal);
  // recover: amqplib reconnects to this node, then the next node of AMQP_URL, for --reconnect-seconds.
  const connection = await connect({ log, name, recover: true, giveUpSeconds: options.reconnectSeconds });
  const report = reporter(connection, options.eventsExchange);
  const stopStatus = everyPeriod(log, options.statusSeconds, (elapsed) => {
    const { line, event } = producer.endPeriod(elapsed);
    report(event);
    return line;
  });
  let failure: CourseError | undefined;
  try {
    // Each round: a confirm channel, the queue declared, publishing until done or the channel is lost.
    await keepPublishing(connection, (channel) => producer.publishOn(connection, channel), {
      signal,
      reconnected: (url, seconds) => {
        log.info(` [*] Reconnected to ${maskUrl(url)} after ${seconds.toFixed(2)} s.`);
        producer.tally.reconnects++;
        if (producer.retries.length)
          log.info(` [*] Republishing ${producer.retries.length} unconfirmed messages (same message ids).`);
      },
    });
  } catch (error) {
    failure = explain(error);
  } finally {
    stopStatus();
    // A blocked broker may answer neither the confirms nor the close: dropped after a few seconds.
    await connection.close(STOP_GRACE_SECONDS);
  }
  return summarize(producer, log, failure);
}

/** The last line: what was confirmed; or, after a failure, the error with that count added. */
function summarize(producer: Producer, log: Log, failure: CourseError | undefined): ProducerSummary {
  const { tally } = producer;
  const summary: ProducerSummary = {
    confirmed: tally.confirmed,
    unconfirmed: producer.retries.map((m) => m.seq),
    nacks: tally.nacks,
    returned: tally.returned,
    reconnects: tally.reconnects,
    rate: tally.rate,
  };
  const owed = summary.unconfirmed.length + tally.inFlight; // in flight: still unanswered at Ctrl+C
  const unsent = owed
    ? `; ${owed} sent messages were not confirmed (nacked, or cut off with their connection: not counted, they may or may not be in the queue)`
    : '';
  if (failure && tally.confirmed === 0 && !unsent) throw failure;
  if (failure)
    throw new CourseError(
      `${failure.message.replace(/\.$/, '')}; ${tally.confirmed} messages were confirmed before that${unsent}.`,
      { code: failure.code, exitCode: failure.exitCode, cause: failure },
    );
  log.success(
    ` [✓] ${tally.confirmed} messages confirmed at ${summary.rate.toFixed(1)} msg/s; ${tally.nacks} nacks along the way${tally.reconnects ? `; ${tally.reconnects} reconnects` : ''}${unsent}.`,
  );
  return summary;
}

/** The run's state across connections: the rate, the counts, and the messages still owed a confirm. */
class Producer {
  readonly rate: AdaptiveRate;
  readonly tally = new ProducerTally();
  /** Nacked or unconfirmed: republished first, never dropped. */
  readonly retries: Outgoing[] = [];
  private nextSeq = 1;

  /**
   * Settles a few seconds after Ctrl+C: what is in flight gets that long to be confirmed. Every
   * wait races it, because a broker that blocks publishing (a memory alarm) answers nothing.
   */
  private readonly stopGrace: Promise<void>;

  constructor(
    private readonly options: Options,
    private readonly log: Log,
    private readonly signal: AbortSignal,
  ) {
    this.rate = new AdaptiveRate(options, log);
    this.stopGrace = afterAbort(signal, STOP_GRACE_SECONDS);
  }

  private get done(): boolean {
    return this.options.count !== undefined && this.tally.confirmed >= this.options.count;
  }

  /** Once a status period: the rate's calm-period step, the status line and the monitor's event. */
  endPeriod(elapsedSeconds: number): { line: string; event: PaceEvent } {
    this.rate.endPeriod(this.retries.length);
    const { status, event } = this.tally.endPeriod(elapsedSeconds, this.rate.current, this.retries.length);
    return { line: statusLine(status), event };
  }

  /** Publishes on one channel until the work is done, Ctrl+C ('done'), or the channel is lost ('again'). */
  async publishOn(connection: Connection, channel: ConfirmChannel): Promise<'done' | 'again'> {
    const link = await this.open(connection, channel);
    const batches = new Set<Promise<void>>();
    const ended = () => this.signal.aborted || !connection.isOpen(link.channel);
    while (!this.done) {
      if (link.blocked) await Promise.race([link.blocked, once(this.signal, 'abort')]).catch(() => {});
      link.blocked = undefined;
      if (ended()) break;
      await this.redeclareIfReturned(link);
      const batch = this.nextBatch();
      if (batch.length === 0) {
        if (batches.size === 0) break; // nothing left to send or to wait for
        await Promise.race([...batches, this.stopGrace]); // everything sent; waiting for the last confirms
        continue;
      }
      await this.rate.pacer.take(batch.length, this.signal).catch(() => {});
      if (ended()) {
        // Lost connection: all of it goes out on the next one. Ctrl+C: new ones were never sent.
        this.retries.unshift(...batch.filter((message) => message.sent || !this.signal.aborted));
        break;
      }
      const sending = this.publishBatch(link, batch);
      batches.add(sending);
      void sending.finally(() => batches.delete(sending));
      if (batches.size >= this.options.maxBatchesInFlight)
        await Promise.race([...batches, link.lost, this.stopGrace]);
    }
    // What is in flight gets its answer (or fails with the channel); after Ctrl+C, a few seconds.
    await Promise.race([Promise.all(batches), this.stopGrace]);
    this.retries.sort((a, b) => a.seq - b.seq);
    // A channel the broker closed for a reason: keepPublishing says it. Lost: all of it goes again.
    return this.done || this.signal.aborted ? 'done' : 'again';
  }

  /** The queue declared on a fresh confirm channel, listening for returns and for the broker's block. */
  private async open(connection: Connection, channel: ConfirmChannel): Promise<Link> {
    const link: Link = {
      connection,
      channel,
      lost: new Promise((resolve) => channel.once('close', () => resolve())),
      returned: new Set(),
      returnedSinceDeclare: 0,
    };
    await declarePaceQueue(channel, this.options);
    const { queue, rate, batchSize, queueLimit, overflow, queueType } = this.options;
    if (this.tally.reconnects === 0)
      this.log.info(
        ` [*] Publishing to ${queue} at ${rate} msg/s in batches of ${batchSize} (limit ${queueLimit}, ${overflow}, ${queueType}). To stop press CTRL+C`,
      );
    // mandatory: a message no queue takes comes back (basic.return) before its confirm; without it
    // the broker confirms a message it routed nowhere.
    channel.on('return', (message) => {
      const id = String(message.properties.messageId);
      this.log.debug(` [.] Message ${id} came back unroutable.`);
      link.returned.add(id);
    });
    // A memory or disk alarm blocks every publishing connection: pause until the broker unblocks us.
    const onBlocked = (reason: string) => {
      this.tally.pushedBack('blocked');
      this.log.warn(` [!] RabbitMQ blocked publishing (${reason}): pausing.`);
      link.blocked = Promise.race([
        once(connection, 'unblocked').then(() =>
          this.log.info(' [*] RabbitMQ unblocked publishing: resuming.'),
        ),
        link.lost,
      ]);
    };
    connection.on('blocked', onBlocked);
    void link.lost.then(() => connection.off('blocked', onBlocked)); // the next channel listens for itself
    return link;
  }

  /** Returned messages mean the queue is gone: declare it again before they are republished. */
  private async redeclareIfReturned(link: Link): Promise<void> {
    if (link.returnedSinceDeclare === 0) return;
    this.log.warn(
      ` [!] ${link.returnedSinceDeclare} messages came back unroutable: the queue ${this.options.queue} is gone (deleted?). Declaring it again and republishing them.`,
    );
    link.returnedSinceDeclare = 0;
    await declarePaceQueue(link.channel, this.options);
  }

  /** The next batch: retries first; new messages only when nothing waits, so pressure reaches the source. */
  private nextBatch(): Outgoing[] {
    const { batchSize, count } = this.options;
    const batch = this.retries.splice(0, batchSize);
    while (
      batch.length < batchSize &&
      this.retries.length === 0 &&
      (count === undefined || this.nextSeq <= count)
    )
      batch.push({ seq: this.nextSeq++, publishedAt: nowMs() });
    return batch;
  }

  /** Publishes one batch and waits for all its confirms (after a 'drain' if the buffer filled). */
  private async publishBatch(link: Link, batch: Outgoing[]): Promise<void> {
    this.tally.inFlight += batch.length;
    const { results, full } = publishConfirmed(link.channel, this.options.queue, batch);
    // publish returned false: the client's buffer is full. The message *is* buffered (never
    // resend it); wait for 'drain' before the next batch, unless the channel dies first.
    if (full) {
      this.tally.pushedBack('drain');
      this.log.debug(" [.] publish returned false (the client's buffer is full): waiting for 'drain'.");
      await Promise.race([once(link.channel, 'drain'), link.lost, this.stopGrace]);
    }
    const outcomes = await Promise.all(results);
    this.tally.inFlight -= batch.length;
    this.settle(link, batch, outcomes);
  }

  /**
   * Counts a batch's answers: confirmed, returned (retried), nacked (retried, and the rate slows) or
   * cut off. Decided after the close, never inside the callbacks: amqplib fails every pending
   * confirm when the channel closes, and those are not nacks (the queue is not full; we never heard).
   */
  private settle(link: Link, batch: Outgoing[], outcomes: boolean[]): void {
    const channelLost = !link.connection.isOpen(link.channel);
    let ok = 0;
    let nacked = 0;
    outcomes.forEach((confirmed, i) => {
      const message = batch[i]!;
      if (confirmed && link.returned.delete(String(message.seq))) {
        link.returnedSinceDeclare++;
        this.tally.returned++;
        this.retries.push(message);
      } else if (confirmed) {
        ok++;
      } else {
        if (channelLost) this.tally.unconfirmedOnClose++;
        else nacked++;
        this.retries.push(message);
      }
    });
    this.tally.confirmedBatch(ok, performance.now());
    if (nacked > 0) {
      this.tally.pushedBack('nack', nacked);
      this.rate.nacked(nacked);
    }
  }
}

/**
 * The lesson's publish: on a confirm channel, one callback per message (an ack, a nack, or amqplib
 * giving up because the channel closed); `mandatory` so a message no queue takes comes back
 * (basic.return, before its confirm) instead of being confirmed. `full`: publish returned false.
 */
function publishConfirmed(
  channel: ConfirmChannel,
  queue: string,
  batch: Outgoing[],
): { results: Promise<boolean>[]; full: boolean } {
  let full = false;
  const results = batch.map(
    (message) =>
      new Promise<boolean>((resolve) => {
        message.sent = true;
        try {
          const written = channel.publish(
            '',
            queue,
            Buffer.from(JSON.stringify({ seq: message.seq, publishedAt: message.publishedAt })),
            {
              persistent: true,
              mandatory: true,
              messageId: String(message.seq),
              headers: { 'x-seq': message.seq, 'x-published-at': message.publishedAt },
            },
            (error) => resolve(!error),
          );
          if (!written) full = true;
        } catch {
          resolve(false); // the channel closed before we got to this one
        }
      }),
  );
  return { results, full };
}

runMain(import.meta, program, produce);
