// keepPublishing: runs a lesson's own publisher on a confirm channel, and again on a fresh one after
// every reconnect (the same node, or the next node of AMQP_URL when this one died), until the lesson
// says it is done, Ctrl+C, or no node answers. Nothing else: the lesson file declares its queue,
// publishes, counts its confirms and keeps what was not confirmed, as the tutorials do; each new
// round is where it publishes that again, under the same message id.
import type { ConfirmChannel } from 'amqplib';
import type { Connection } from './connection.ts';
import { CourseError, explain } from './errors.ts';

/**
 * One round on one confirm channel: declare, then publish (what the last round left unconfirmed
 * first). Resolve 'done' when the work is done or Ctrl+C stopped it; 'again' for a fresh channel
 * (this one closed with its connection, or the lesson closed it because it stopped confirming).
 * Rejecting after the channel closed without a broker-given reason counts as 'again'.
 */
export type PublishRound = (channel: ConfirmChannel) => Promise<'done' | 'again'>;

export interface KeepPublishingOptions {
  /** Ctrl+C (from runMain): no new round, and the wait for a reconnect ends. */
  signal: AbortSignal;
  /** The connection dropped; recovery has begun (say what was unconfirmed). */
  lost?: (error: Error) => void;
  /** The connection is back, on `url`, `seconds` after it dropped: the next round follows. */
  reconnected?: (url: string, seconds: number) => void;
  /** On a live connection, a channel that does not open within this many seconds is asked for again. */
  openWithinSeconds?: number;
  /** A channel did not open within openWithinSeconds; throw to give up. */
  stalled?: () => void;
}

/**
 * How to use it (a producer):
 *
 *   const connection = await connect({ log, recover: true, name: 'lesson 07 producer' });
 *   const unconfirmed = new Map<string, Buffer>();   // id → body, until its confirm
 *   try {
 *     await keepPublishing(connection, async (channel) => {
 *       await channel.assertQueue(queue, { durable: true });
 *       for (const [id, body] of unconfirmed) send(channel, id, body); // again, same message id
 *       …channel.sendToQueue(queue, body, { messageId: id, persistent: true }, (err) => …);
 *       await channel.waitForConfirms();
 *       return 'done';
 *     }, { signal });
 *   } finally {
 *     await connection.close();
 *   }
 *
 * - `connection` must be a recovering connection (`recover: true`): amqplib reconnects to its node,
 *   failover.ts moves to the next node of the list, and this runs the round again on each.
 * - A channel closed by the broker for a reason (406 on a redeclare, 404) and no node answering
 *   reject with a one-sentence CourseError; so does any error the round throws on an open channel.
 * - Resolves with the number of reconnects.
 */
export async function keepPublishing(
  connection: Connection,
  round: PublishRound,
  options: KeepPublishingOptions,
): Promise<{ reconnects: number }> {
  const { signal } = options;
  let reconnects = 0;
  let lostAt = 0;
  let gaveUp: (error: Error) => void = () => {};
  const givenUp = new Promise<never>((_, reject) => {
    gaveUp = reject;
  });
  givenUp.catch(() => {}); // raced below; never unhandled
  const interrupted = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  const onDisconnect = (error: Error) => {
    lostAt ||= performance.now();
    options.lost?.(error);
  };
  const onConnect = () => {
    reconnects++;
    const seconds = lostAt ? (performance.now() - lostAt) / 1000 : 0;
    lostAt = 0;
    options.reconnected?.(connection.url, seconds);
  };
  const onGiveUp = (error: Error) => gaveUp(explain(error));
  connection.on('disconnect', onDisconnect);
  connection.on('connect', onConnect);
  connection.on('reconnect-failed', onGiveUp);

  /** A confirm channel once the connection is up (waiting while it recovers); undefined on Ctrl+C. */
  const open = async (): Promise<ConfirmChannel | undefined> => {
    for (;;) {
      const opening = connection.confirmChannel();
      opening.catch(() => {}); // a late one is tracked by the connection and closed with it
      // While the connection recovers, the wait is for the connection: not bounded here.
      const late = options.openWithinSeconds && !lostAt ? timeout(options.openWithinSeconds) : undefined;
      const channel = await Promise.race([opening, givenUp, interrupted, ...(late ? [late] : [])]);
      if (channel !== STALLED) return channel;
      options.stalled?.();
    }
  };

  try {
    while (!signal.aborted) {
      const channel = await open();
      if (!channel) break;
      let next: 'done' | 'again';
      try {
        next = await round(channel);
      } catch (error) {
        const reason = connection.channelErrors.get(channel);
        if (reason) throw explain(reason);
        if (error instanceof CourseError || connection.isOpen(channel)) throw explain(error);
        next = 'again'; // the channel died with its connection
      }
      const reason = connection.channelErrors.get(channel);
      if (reason) throw explain(reason); // the broker closed the channel for a reason: say it
      if (next === 'done' || connection.closed) break;
    }
  } finally {
    connection.off('disconnect', onDisconnect);
    connection.off('connect', onConnect);
    connection.off('reconnect-failed', onGiveUp);
  }
  return { reconnects };
}

const STALLED = Symbol('stalled');

/** Resolves with STALLED after `seconds`; the timer does not keep the process alive. */
function timeout(seconds: number): Promise<typeof STALLED> {
  return new Promise((resolve) => setTimeout(() => resolve(STALLED), seconds * 1000).unref());
}
