// keepConsuming: runs a lesson's own consumer setup, again after every reconnect, until --count
// messages are handled, Ctrl+C, or the broker cancels the consumer. Nothing else: the lesson file
// declares its queue, sets its prefetch, calls channel.consume and acks, as the tutorials do.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ConsumeMessage, Options, Replies } from 'amqplib';
import type { Connection } from './connection.ts';
import { explain } from './errors.ts';
import type { Log } from './logger.ts';
import { maskUrl } from './secrets.ts';

/** How long finishing waits for the broker's cancel-ok before going on without it. */
const CANCEL_SECONDS = 5;
/** How long a reconnect goes on declaring a queue whose home is still starting after a restart. */
const STARTING_SECONDS = 60;

/** RabbitMQ's refusal while a queue's (or stream's) node or member is not up yet. */
function stillStarting(error: unknown): boolean {
  return /home node .* is down or inaccessible|not available/i.test(String((error as Error)?.message ?? ''));
}

/**
 * The lesson's setup: declare, prefetch, then `return channel.consume(queue, onMessage, options)`.
 * `onMessage` may be async: a message counts as handled when the promise it returns resolves
 * while its channel is still open (so its ack went out). It receives `null` when the broker
 * cancels the consumer (queue deleted, consumer_timeout); keepConsuming then ends.
 */
export type Setup = (channel: Channel) => Promise<Replies.Consume>;

export interface KeepConsumingOptions {
  /** Stop after exactly this many handled messages (--count); undefined: until Ctrl+C. */
  count?: number;
  /** Ctrl+C (from runMain): stop taking messages, let the broker have back what is unacked. */
  signal: AbortSignal;
  log: Log;
  /** Said once (log.warn) when nothing has arrived `seconds` after the consumer started: a queue nobody sends to. */
  quiet?: { seconds: number; note: string };
  /** The queue is a stream: a delivery past --count is acked, since a stream removes nothing on ack and refuses nack. */
  stream?: boolean;
}

export interface ConsumeOutcome {
  handled: number;
  reason: 'count' | 'signal' | 'cancelled';
  /** --no-ack only: deliveries that arrived after --count was reached; auto-ack means they are gone. */
  lost: number;
}

/**
 * How to use it (a worker):
 *
 *   const connection = await connect({ log, recover: true, name: 'lesson 02 worker A' });
 *   try {
 *     await keepConsuming(connection, async (channel) => {
 *       await channel.assertQueue(queue, { durable: true });
 *       await channel.prefetch(1);
 *       return channel.consume(queue, async (msg) => {
 *         if (!msg) return;                       // the broker cancelled us
 *         await doTheWork(msg, signal);
 *         channel.ack(msg);                       // ack on the channel that delivered it
 *       });
 *     }, { count: options.count, signal, log });
 *   } finally {
 *     await connection.close();
 *   }
 *
 * - The setup runs on a fresh channel now and after every reconnect (the same node, or the next
 *   node of AMQP_URL when this one died), so the queue and consumer come back with the connection.
 * - --count: once the deliveries in hand would complete the count, the consumer is cancelled, so
 *   the broker sends no more; a delivery that still slips in before the cancel is confirmed goes
 *   straight back (one nack with requeue; with --no-ack it is counted in `lost` and reported).
 *   Deliveries that died with their channel give their slot back: the broker redelivers them.
 * - Ctrl+C: the consumer is cancelled and the call returns once the callbacks in progress settle
 *   (pass the signal to your work so it stops at once); unacked messages return to the queue.
 * - Errors (406 on a redeclare, a channel closed by the broker, no node answering) reject with a
 *   one-sentence CourseError.
 */
export function keepConsuming(
  connection: Connection,
  setup: Setup,
  options: KeepConsumingOptions,
): Promise<ConsumeOutcome> {
  const { count, signal, log } = options;
  return new Promise<ConsumeOutcome>((resolve, reject) => {
    let handled = 0;
    let lost = 0;
    let done = false;
    let current: Live | undefined;
    let reconnects = 0;
    let arrived = false;
    let quietTimer: NodeJS.Timeout | undefined;

    interface Live {
      channel: Channel;
      /** The consume-ok, once the lesson called channel.consume. */
      registered?: Promise<Replies.Consume>;
      noAck: boolean;
      /** Deliveries on this channel whose callback has not settled yet. */
      inHand: Set<Promise<void>>;
      cancelling?: Promise<unknown>;
      closed: boolean;
      /** Set while the setup of a reconnect runs: a refusal then is retried, not final. */
      reconnecting?: boolean;
    }

    const remaining = () => (count === undefined ? Infinity : count - handled);

    const cancel = (live: Live) => {
      if (!live.registered) return Promise.resolve();
      live.cancelling ??= live.registered
        .then((reply) => live.channel.cancel(reply.consumerTag))
        .catch(() => {});
      return live.cancelling;
    };

    const finish = async (reason: ConsumeOutcome['reason'] | Error) => {
      if (done) return;
      done = true;
      clearTimeout(quietTimer);
      signal.removeEventListener('abort', onAbort);
      connection.off('connect', onReconnect);
      connection.off('reconnect-failed', onGiveUp);
      const live = current;
      if (live && !live.closed) {
        // After cancel-ok the broker sends nothing more: every late delivery is counted by then.
        // Bounded: a broker that stopped answering (a quorum queue without its leader) must not
        // keep a finished program, or its Ctrl+C, waiting.
        // The timer is unref'd: once cancel-ok has come, it must not hold the process for 5 s more.
        await Promise.race([cancel(live), sleep(CANCEL_SECONDS * 1000, undefined, { ref: false })]);
        await Promise.allSettled(live.inHand);
      }
      if (lost > 0)
        log.warn(
          ` [!] ${lost} message${lost === 1 ? '' : 's'} arrived after --count ${count} and ${lost === 1 ? 'is' : 'are'} lost: with --no-ack RabbitMQ forgot ${lost === 1 ? 'it' : 'them'} when it sent ${lost === 1 ? 'it' : 'them'}.`,
        );
      if (reason instanceof Error) reject(reason);
      else resolve({ handled, reason, lost });
    };

    const onDelivery = (
      live: Live,
      onMessage: (m: ConsumeMessage | null) => unknown,
      message: ConsumeMessage | null,
    ) => {
      arrived = true;
      clearTimeout(quietTimer);
      if (message === null) {
        void Promise.resolve(onMessage(null)).catch(() => {});
        log.warn(
          'RabbitMQ cancelled this consumer (its queue was deleted, or a delivery stayed unacked past consumer_timeout).',
        );
        void finish('cancelled');
        return;
      }
      if (done || live.inHand.size >= remaining()) {
        // Past --count (it slipped in before the cancel took effect): give it straight back.
        if (live.noAck) lost++;
        else if (!live.closed && options.stream) live.channel.ack(message);
        else if (!live.closed) live.channel.nack(message, false, true);
        return;
      }
      const work = (async () => {
        try {
          await onMessage(message);
          if (live.closed) return; // its ack never reached the broker: it will be redelivered
          handled++;
        } catch (error) {
          // Interrupted, or the channel died under us: the unacked message comes back, slot freed.
          if (signal.aborted || live.closed || done) return;
          void finish(explain(error));
        }
      })();
      live.inHand.add(work);
      void work.finally(() => {
        live.inHand.delete(work);
        if (remaining() <= 0) void finish('count');
      });
      if (live.inHand.size >= remaining()) void cancel(live); // the rest of the count is in hand
    };

    const subscribe = async () => {
      const channel = await connection.channel();
      const live: Live = { channel, noAck: false, inHand: new Set(), closed: false };
      current = live;
      channel.on('close', () => {
        live.closed = true;
        live.inHand.clear(); // their slots are free again: the broker redelivers those messages
        if (done || live.reconnecting) return;
        if (connection.recovering && !connection.closed && !connection.channelErrors.has(channel)) return; // onReconnect
        void finish(explain(connection.channelErrors.get(channel) ?? new Error('Channel closed')));
      });
      // The lesson calls channel.consume itself; we see each delivery on its way to the callback.
      const consume = channel.consume.bind(channel);
      channel.consume = async (
        queue: string,
        onMessage: (message: ConsumeMessage | null) => unknown,
        consumeOptions?: Options.Consume,
      ) => {
        live.noAck = consumeOptions?.noAck ?? false;
        live.registered = consume(queue, (message) => onDelivery(live, onMessage, message), consumeOptions);
        const reply = await live.registered;
        const { quiet } = options;
        if (quiet && reconnects === 0 && !arrived) {
          quietTimer = setTimeout(() => {
            if (!arrived && !done) log.warn(quiet.note);
          }, quiet.seconds * 1000);
          quietTimer.unref(); // a hint: it keeps nothing running
        }
        if (reconnects > 0)
          log.info(`Reconnected to ${maskUrl(connection.url)}; consuming from ${queue} again.`);
        return reply;
      };
      live.reconnecting = reconnects > 0;
      try {
        await setup(channel);
      } finally {
        live.reconnecting = false;
      }
      if (done) await cancel(live);
    };

    // Just after a broker restart, a durable queue's or a stream's home may still be starting:
    // declaring it then is refused ("home node … is down or inaccessible"). Try again every
    // second for a while, on the same connection, rather than end the run.
    const resubscribe = (since: number, round: number) =>
      subscribe().catch(async (error) => {
        if (done || round !== reconnects) return; // another reconnect took over
        // The connection dropped again during the setup (no refusal on the channel): the next
        // reconnect subscribes again, as the channel's close handler would have let it.
        const refused = current !== undefined && connection.channelErrors.has(current.channel);
        if (connection.recovering && !connection.closed && !refused) return;
        if (stillStarting(error) && Date.now() - since < STARTING_SECONDS * 1000 && !connection.closed) {
          log.debug(
            `the queue is not ready yet after the reconnect (${(error as Error).message}): trying again`,
          );
          await sleep(1000);
          if (!done && round === reconnects) void resubscribe(since, round);
          return;
        }
        void finish(explain(error));
      });

    const onReconnect = () => {
      if (done) return;
      reconnects++;
      void resubscribe(Date.now(), reconnects);
    };
    const onGiveUp = (error: Error) => void finish(explain(error));
    const onAbort = () => void finish('signal');

    if (count === 0) return resolve({ handled: 0, reason: 'count', lost: 0 });
    if (signal.aborted) return resolve({ handled: 0, reason: 'signal', lost: 0 });
    signal.addEventListener('abort', onAbort, { once: true });
    connection.on('connect', onReconnect);
    connection.on('reconnect-failed', onGiveUp);
    subscribe().catch((error) => void finish(explain(error)));
  });
}
