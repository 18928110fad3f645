// Producer: streams numbered messages into a quorum queue with confirms; when its node dies it
// fails over to the next node of AMQP_URL and republishes what was not confirmed, same id.
import { once } from 'node:events';
import { type ConfirmChannel, type Connection, connect } from '../shared/connection.ts';
import { clusterUrl } from '../shared/course-cluster.ts';
import { CourseError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { nowMs } from '../shared/pacer.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { keepPublishing } from '../shared/publish.ts';
import { maskUrl } from '../shared/secrets.ts';

/** The flag both programs share: how many nodes hold a copy of the queue. */
export const replicasFlag = {
  type: 'integer',
  min: 1,
  max: 7,
  default: 3,
  description: 'members of a new quorum queue (1: no copies, to measure what replication costs)',
} as const;

/**
 * A quorum queue: its leader confirms a message once a majority of its members (2 of 3) has it
 * on disk. The group size applies when the queue is created; a cluster of one node caps it at 1.
 */
export const quorumQueue = (replicas = 3) => ({
  durable: true,
  arguments: { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': replicas },
});

export const program = defineProgram({
  name: 'producer',
  summary: 'Stream confirmed messages into a quorum queue; fail over across the nodes of AMQP_URL.',
  flags: {
    queue: { type: 'string', default: 'cluster_queue', env: 'QUEUE', description: 'the quorum queue' },
    count: { type: 'integer', min: 1, default: 10_000, description: 'messages to publish' },
    maxInFlight: {
      type: 'integer',
      min: 1,
      default: 500,
      description: 'unconfirmed messages allowed at once (streamed confirms)',
    },
    confirmTimeout: {
      type: 'number',
      min: 0.1,
      default: 3,
      description: 'seconds without a confirm before the channel counts as stuck and is replaced',
    },
    giveUpAfter: {
      type: 'number',
      min: 1,
      default: 300,
      description: 'seconds without any confirm (no majority of the queue running?) before giving up',
    },
    replicas: replicasFlag,
    size: { type: 'integer', min: 1, max: 1_048_576, default: 100, description: 'message size in bytes' },
    runId: { type: 'string', description: 'prefix of the message ids (default: random)' },
  },
  examples: [`AMQP_URL=${clusterUrl()} npm run lesson:07 -- producer --count 40000`],
});

export interface ProduceResult {
  confirmed: number;
  republished: number;
  /** Connections re-established (on the same node, or the next one of AMQP_URL). */
  reconnects: number;
  /** Channels replaced because they were stuck (see --confirm-timeout). */
  stalls: number;
  seconds: number;
  /** From first send to confirm, per message, in ms (a failover's wait included). */
  confirmMs: number[];
  /** The longest time without any confirm while messages were in flight, in ms. */
  longestGapMs: number;
}

export interface ProduceHooks {
  /** After each confirm: the total so far (a drill kills a node at a chosen count). */
  onConfirm?: (confirmed: number, at: number) => void;
  /** The nodes to use instead of AMQP_URL's (several producers in one process, each its own list). */
  urls?: string[];
}

export async function produce(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
  hooks: ProduceHooks = {},
): Promise<ProduceResult> {
  const runId = options.runId ?? `m${Math.random().toString(36).slice(2, 8)}`;
  const body = Buffer.alloc(options.size, 'x');
  // id → when it was first sent. An id leaves this map only when the broker confirms it.
  const unconfirmed = new Map<string, number>();
  const confirmMs: number[] = [];
  let next = 1;
  let sends = 0;
  let confirmed = 0;
  let reconnects = 0;
  let stalls = 0;
  let longestGapMs = 0;
  const started = nowMs();
  let lastConfirm = started;

  /** Publishes on one channel until every id is confirmed; rejects when the channel dies. */
  const publishOn = async (connection: Connection, channel: ConfirmChannel): Promise<void> => {
    await channel.assertQueue(options.queue, quorumQueue(options.replicas));
    // What the last channel never had confirmed goes again, with the same id: the consumer may see
    // an id twice (the old leader had it after all), but never zero times.
    const resend = [...unconfirmed.keys()];
    if (resend.length) log.warn(` [!] Republishing ${resend.length} unconfirmed messages.`);
    const nacked: string[] = [];
    let inFlight = 0;
    let wake = () => {};
    let lastProgress = nowMs();
    let watchdog: NodeJS.Timeout | undefined;
    const closed = new Promise<never>((_, reject) => {
      channel.once('close', () =>
        reject(connection.channelErrors.get(channel) ?? new Error('Channel closed')),
      );
      // No positive confirm for a while (nothing, or only nacks): the channel is stuck on a queue
      // leader that is gone (see README). A new channel asks the cluster for the new leader.
      watchdog = setInterval(() => {
        if (inFlight === 0 || nowMs() - lastProgress < options.confirmTimeout * 1000) return;
        reject(new Stalled());
        channel.close().catch(() => {});
      }, 250);
    });
    closed.catch(() => {}).finally(() => clearInterval(watchdog)); // raced below; never unhandled
    const changed = () => Promise.race([new Promise<void>((resolve) => (wake = resolve)), closed]);

    const send = (id: string): boolean => {
      if (inFlight === 0) lastProgress = nowMs();
      inFlight++;
      sends++;
      const sentAt = unconfirmed.get(id) ?? nowMs();
      unconfirmed.set(id, sentAt);
      const headers = { 'sent-at': sentAt };
      return channel.sendToQueue(
        options.queue,
        body,
        { persistent: true, messageId: id, headers },
        (error) => {
          inFlight--;
          // An error here is a nack, or the channel closing: decided below, outside this callback.
          if (!error && unconfirmed.delete(id)) {
            const now = nowMs();
            lastProgress = now;
            longestGapMs = Math.max(longestGapMs, now - lastConfirm);
            lastConfirm = now;
            confirmMs.push(now - sentAt);
            confirmed++;
            hooks.onConfirm?.(confirmed, now);
            if (confirmed % Math.ceil(options.count / 10) === 0) log.info(` [x] ${confirmed} confirmed`);
          } else if (error && connection.isOpen(channel)) nacked.push(id); // the broker could not take it
          wake();
        },
      );
    };

    for (;;) {
      if (!connection.isOpen(channel)) await closed;
      if (inFlight >= options.maxInFlight) {
        await changed();
        continue;
      }
      // After Ctrl+C nothing new and nothing again: only the confirms of what is in flight are awaited
      // (the watchdog bounds that wait); what stays unconfirmed is reported, not retried for ever.
      const id = signal.aborted
        ? undefined
        : (nacked.shift() ?? resend.shift() ?? (next <= options.count ? `${runId}-${next++}` : undefined));
      if (id === undefined) {
        if (inFlight === 0) break; // everything sent is confirmed (or Ctrl+C and nothing in flight)
        await changed();
        continue;
      }
      if (unconfirmed.size === 0) lastConfirm = nowMs(); // a gap counts only while something waits
      // false: amqplib's buffer is full (the message is in it: never send it again); wait for drain.
      if (!send(id)) await Promise.race([once(channel, 'drain'), closed]);
    }
    clearInterval(watchdog);
  };

  /** A channel that confirms nothing (or does not open): count it, give up after --give-up-after. */
  const stalled = () => {
    stalls++;
    if (nowMs() - lastConfirm > options.giveUpAfter * 1000)
      throw noMajority(options, confirmed, unconfirmed.size);
    log.warn(` [!] No confirm for ${options.confirmTimeout} s: a new channel.`);
  };

  // recover: when the node dies, shared/ reconnects (to the next node of AMQP_URL), and
  // keepPublishing runs publishOn again on a fresh channel there.
  const connection = await connect({ log, recover: true, urls: hooks.urls, name: 'lesson 07 producer' });
  try {
    await keepPublishing(
      connection,
      async (channel) => {
        try {
          await publishOn(connection, channel);
          return 'done';
        } catch (error) {
          if (signal.aborted) return 'done'; // Ctrl+C: what is still unconfirmed is reported below
          if (!(error instanceof Stalled)) throw error; // the channel died (a new one follows) or 406, 404…
          stalled();
          return 'again';
        }
      },
      {
        signal,
        reconnected: (url) => {
          reconnects++;
          log.info(`Reconnected to ${maskUrl(url)}.`);
        },
        // Bounded: RabbitMQ 3.10 opens no new channel while a quorum queue without a majority holds
        // the old one; that counts as a stall too, so Ctrl+C and --give-up-after still apply.
        openWithinSeconds: options.confirmTimeout,
        stalled,
      },
    );
  } finally {
    // A broker that cannot take the close either (no majority) is dropped after a few seconds.
    if (!(await connection.close(options.confirmTimeout + 2)))
      log.warn(' [!] RabbitMQ did not answer the close (the queue has no majority?): connection dropped.');
  }

  const seconds = (nowMs() - started) / 1000;
  const republished = sends - (next - 1);
  const stopped =
    signal.aborted && unconfirmed.size
      ? `; ${unconfirmed.size} sent but unconfirmed at Ctrl+C (in the queue or not: unknown)`
      : '';
  log.success(
    ` [✓] ${confirmed} of ${options.count} confirmed in ${seconds.toFixed(1)} s (${Math.round(confirmed / seconds)} msg/s); ${republished} republished after ${reconnects} reconnect${reconnects === 1 ? '' : 's'} and ${stalls} stuck channel${stalls === 1 ? '' : 's'}; longest wait for a confirm ${Math.round(longestGapMs)} ms${stopped}.`,
  );
  return { confirmed, republished, reconnects, stalls, seconds, confirmMs, longestGapMs };
}

/** No confirm on any channel for --give-up-after seconds: the queue cannot reach a majority. */
function noMajority(
  options: Values<typeof program.flags>,
  confirmed: number,
  unconfirmed: number,
): CourseError {
  return new CourseError(
    `No confirm for ${options.giveUpAfter} s on any channel: the quorum queue '${options.queue}' has no majority of its members running (two of three nodes down?). Start the stopped nodes (npm run cluster -- start N) and run again; ${confirmed} of ${options.count} were confirmed, ${unconfirmed} sent but unconfirmed.`,
    { code: 'NO_MAJORITY' },
  );
}

/** A channel that takes messages but confirms none of them (see --confirm-timeout). */
class Stalled extends CourseError {
  constructor() {
    super('The channel stopped confirming.', { code: 'STALLED' });
  }
}

runMain(import.meta, program, produce);
