// One producer worker: its own connection and confirm channel, persistent messages to a durable
// queue, a window of unconfirmed messages, and a CSV row for each message the broker confirmed.
// Nothing the broker did not confirm is written down; it is published again, with the same id.
import { once } from 'node:events';
import { type ConfirmChannel, connect } from '../shared/connection.ts';
import { afterAbort } from '../shared/grace.ts';
import { nowMs } from '../shared/pacer.ts';
import { keepPublishing } from '../shared/publish.ts';
import { maskUrl } from '../shared/secrets.ts';
import { queueArguments } from './queue.ts';
import type { WorkerContext } from './threads.ts';

export interface ProducerWorkerOptions {
  urls: string[];
  /** Where the URLs came from (--url or AMQP_URL), for sentences. */
  setting: string;
  queue: string;
  queueType: string;
  runId: string;
  count: number;
  size: number;
  /** Publish this many, then wait for all their confirms; 0 streams with maxInFlight. */
  batch: number;
  maxInFlight: number;
  csv: boolean;
}

export interface ProducerResult {
  confirmed: number;
  /** Published again: nacked, or unconfirmed when the connection was lost. */
  republished: number;
  reconnects: number;
  firstSent: number;
  lastAcked: number;
  /** Sent but never confirmed when the run ended (Ctrl+C): they may or may not be in the queue. */
  unconfirmed: number;
}

/**
 * A channel that gets only nacks for this long is replaced. On RabbitMQ 3.10, a channel opened on
 * a survivor before the election that follows its quorum queue's leader's death keeps routing to
 * the dead leader: every publish is nacked, and republishing on it would loop until that node is
 * back. A fresh channel after the election reaches the new leader.
 */
const STUCK_SECONDS = 3;

/** After Ctrl+C, how long the messages in flight may wait for their confirms. */
const STOP_GRACE_SECONDS = 5;

export default async function produceWorker(
  options: ProducerWorkerOptions,
  { index, output, signal, warn }: WorkerContext,
): Promise<ProducerResult> {
  const name = `lesson 05 producer ${index}`;
  const body = Buffer.alloc(options.size, 'x');
  const prefix = `${options.runId}-${index}-`;
  // Messages to publish again (nacked, or lost with their channel): id and first send time.
  const again: [string, number][] = [];
  let next = 1;
  let inFlight = 0;
  const result: ProducerResult = {
    confirmed: 0,
    republished: 0,
    reconnects: 0,
    firstSent: nowMs(),
    lastAcked: 0,
    unconfirmed: 0,
  };
  const unfinished = () => next <= options.count || again.length > 0 || inFlight > 0;
  // After Ctrl+C, what is in flight gets a few seconds to be confirmed: a broker that stopped
  // answering (a memory alarm, a queue without a majority) must not keep the program running.
  let graceOver = false;
  const grace = afterAbort(signal, STOP_GRACE_SECONDS).then(() => {
    graceOver = true;
  });

  /** Publishes on one channel until the work is done, Ctrl+C, or the channel closes. */
  async function publishOn(channel: ConfirmChannel): Promise<void> {
    let closed = false;
    let wake: (() => void) | undefined;
    const poke = () => {
      const waiting = wake;
      wake = undefined;
      waiting?.();
    };
    channel.once('close', () => {
      closed = true;
      poke();
    });
    let lastConfirm = performance.now();
    let nacksSinceConfirm = 0;
    const stuck = setInterval(() => {
      if (nacksSinceConfirm === 0 || performance.now() - lastConfirm < STUCK_SECONDS * 1000) return;
      warn(
        `${name}: ${nacksSinceConfirm} nacks and no confirm for ${STUCK_SECONDS} s (a quorum queue whose leader died?): opening a new channel.`,
      );
      clearInterval(stuck);
      // Its unanswered messages fail as it closes and go into `again`, published on the next one.
      channel.close().catch(() => {});
    }, 500);
    channel.once('close', () => clearInterval(stuck));
    const settle = async (limit: number) => {
      while (inFlight > limit && !closed && !graceOver)
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), grace]);
    };
    const send = (id: string, sentAt: number): boolean => {
      inFlight++;
      return channel.sendToQueue(options.queue, body, { persistent: true, messageId: id }, (error) => {
        // This may run inside amqplib's own close handling: record the answer, decide nothing here.
        inFlight--;
        if (error) {
          again.push([id, sentAt]);
          nacksSinceConfirm++;
        } else {
          lastConfirm = performance.now();
          nacksSinceConfirm = 0;
          result.confirmed++;
          result.lastAcked = nowMs();
          if (options.csv) output.write(`${id},${sentAt.toFixed(3)},${result.lastAcked.toFixed(3)}\n`);
        }
        poke();
      });
    };

    let sent = 0;
    while (!closed) {
      const retry = again.length > 0 && !signal.aborted ? again.shift() : undefined;
      if (retry) result.republished++;
      else if (next > options.count || signal.aborted) {
        if (inFlight === 0 || graceOver) return; // after the grace, what is unanswered stays so
        await settle(0); // every message answered before we report
        continue;
      }
      const written = retry ? send(...retry) : send(`${prefix}${next++}`, nowMs());
      sent++;
      // The client's buffer is full: wait for it to empty, never send the same message twice.
      if (!written) await Promise.race([once(channel, 'drain'), once(channel, 'close'), grace]);
      // Streaming keeps a window of unconfirmed messages; batching empties it every `batch`.
      if (options.batch > 0 ? sent % options.batch === 0 : inFlight >= options.maxInFlight)
        await settle(options.batch > 0 ? 0 : options.maxInFlight - 1);
      if (output.full) await output.ready(); // stdout's pipe is full: wait for the reader
    }
  }

  // recover: amqplib reconnects to this node, then the next of the list. A broker restart takes
  // seconds; a minute without any node answering ends the run.
  const connection = await connect({
    urls: options.urls,
    setting: options.setting,
    name,
    recover: true,
    giveUpSeconds: 60,
  });
  try {
    // Each round: a confirm channel, the queue declared, then `again` (what the last channel left
    // unconfirmed: amqplib fails every unanswered message as a channel closes) before new ones.
    await keepPublishing(
      connection,
      async (channel) => {
        await channel.assertQueue(options.queue, queueArguments(options.queueType));
        await publishOn(channel);
        return unfinished() && !(signal.aborted && inFlight === 0) ? 'again' : 'done';
      },
      {
        signal,
        lost: () =>
          warn(
            `${name}: lost the connection with ${again.length} messages unconfirmed; reconnecting to publish them again…`,
          ),
        reconnected: (url) => {
          result.reconnects++;
          warn(`${name}: reconnected to ${maskUrl(url)}; ${result.confirmed} confirmed so far.`);
        },
      },
    );
  } finally {
    await connection.close(STOP_GRACE_SECONDS);
  }
  result.unconfirmed = inFlight + again.length; // sent, never confirmed: in the queue or not
  output.flush();
  return result;
}
