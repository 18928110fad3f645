// One consumer worker: its own connection, a prefetch window, manual acks (each, or `multiple`
// every N), and a CSV row for each message it acked, written out before the ack is sent, so even a
// killed consumer's CSV lists everything the broker forgot.

import type { Channel, ConsumeMessage } from '../shared/connection.ts';
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import type { Log } from '../shared/logger.ts';
import { nowMs } from '../shared/pacer.ts';
import { maskUrl } from '../shared/secrets.ts';
import { queueArguments } from './queue.ts';
import type { WorkerContext } from './threads.ts';

export interface ConsumerWorkerOptions {
  urls: string[];
  /** Where the URLs came from (--url or AMQP_URL), for sentences. */
  setting: string;
  queue: string;
  queueType: string;
  prefetch: number;
  /** Ack with `multiple` every N; 0 acks each. */
  batch: number;
  /** Messages to handle across all workers; undefined runs until stopped. */
  count?: number;
  csv: boolean;
  /** One Int32: messages taken by all workers together, so --count is a total. */
  counter: SharedArrayBuffer;
}

export interface ConsumerResult {
  consumed: number;
  /** Delivered again by the broker (it had not seen our ack when a connection or consumer died). */
  redelivered: number;
  reconnects: number;
  /** The broker cancelled the consumer (the queue was deleted). */
  cancelled: boolean;
  firstReceived: number;
  lastAcked: number;
}

export default async function consumeWorker(
  options: ConsumerWorkerOptions,
  { index, output, signal, finishedAll, warn }: WorkerContext,
): Promise<ConsumerResult> {
  const name = `lesson 05 consumer ${index}`;
  const taken = new Int32Array(options.counter);
  const total = options.count ?? Number.POSITIVE_INFINITY;
  const result: ConsumerResult = {
    consumed: 0,
    redelivered: 0,
    reconnects: 0,
    cancelled: false,
    firstReceived: 0,
    lastAcked: 0,
  };

  let finishing = () => {}; // acks the tail of the last channel's batch

  /** The lesson's setup on one channel: its deliveries, acked each or `multiple` every N. */
  async function consumeOn(channel: Channel) {
    await channel.assertQueue(options.queue, queueArguments(options.queueType));
    await channel.prefetch(Math.max(options.prefetch, options.batch));
    let pending: ConsumeMessage[] = []; // received, not acked yet
    let rows: string[] = []; // their id,received_at
    let overTotal = false; // some message was left unacked: `multiple` would ack it too
    let waitingForStdout = false;
    let closed = false;

    const ack = () => {
      if (pending.length === 0 || closed) return;
      const ackedAt = nowMs();
      if (options.csv) {
        output.write(rows.map((row) => `${row},${ackedAt.toFixed(3)}\n`).join(''));
        output.flush(); // out before the ack: what the broker forgets is on record
      }
      if (overTotal) for (const message of pending) channel.ack(message);
      else channel.ack(pending[pending.length - 1]!, pending.length > 1); // multiple: all up to this tag
      result.consumed += pending.length;
      result.lastAcked = ackedAt;
      pending = [];
      rows = [];
    };
    const ackWhenStdoutTakesMore = () => {
      // A full pipe holds the acks back, so the prefetch window fills and the broker stops sending.
      if (!output.full) return ack();
      if (waitingForStdout) return;
      waitingForStdout = true;
      void output.ready().then(() => {
        waitingForStdout = false;
        ack();
      });
    };
    channel.once('close', () => {
      // Unacked deliveries died with the channel: the broker gives them out again.
      Atomics.sub(taken, 0, pending.length);
      pending = [];
      closed = true;
    });
    finishing = ack;

    return channel.consume(options.queue, (message) => {
      if (!message) return; // the queue was deleted: keepConsuming ends
      if (signal.aborted) return; // stopping: left unacked, it goes back to the queue
      if (Atomics.add(taken, 0, 1) >= total) {
        // Past the total: leave it unacked; closing the channel gives it back to the queue.
        Atomics.sub(taken, 0, 1);
        overTotal = true;
        return;
      }
      const receivedAt = nowMs();
      result.firstReceived ||= receivedAt;
      if (message.fields.redelivered) result.redelivered++;
      pending.push(message);
      rows.push(`${message.properties.messageId},${receivedAt.toFixed(3)}`);
      const last = Atomics.load(taken, 0) >= total;
      if (last) ack();
      else if (options.batch === 0 || pending.length >= options.batch) ackWhenStdoutTakesMore();
      if (last) finishedAll();
    });
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
  connection.on('disconnect', () =>
    warn(`${name}: lost the connection after ${result.consumed} messages; reconnecting…`),
  );
  connection.on('connect', () => {
    result.reconnects++;
    warn(`${name}: reconnected to ${maskUrl(connection.url)}; consuming again.`);
  });
  // keepConsuming's own lines: what ends it (a cancel) is a warning; its reconnect line is ours above.
  const log: Log = { info: () => {}, debug: () => {}, success: () => {}, warn, error: warn };
  try {
    // The setup runs again on a fresh channel after every reconnect; Ctrl+C (or the main thread's
    // stop once the total is reached) ends it.
    const outcome = await keepConsuming(connection, consumeOn, { signal, log });
    result.cancelled = outcome.reason === 'cancelled';
    finishing(); // the tail of a batch
  } finally {
    await connection.close();
  }
  output.flush();
  return result;
}
