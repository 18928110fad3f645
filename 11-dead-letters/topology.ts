// Lesson 11's queues, declared the same way by every program: the work queue, one retry queue per
// delay (its TTL is the delay, and what expires is dead-lettered back to the work queue), and the
// parking lot, where the work queue's dead-letter exchange sends what cannot be processed.
import type { Channel, Options } from 'amqplib';
import { UsageError } from '../shared/errors.ts';

/** RabbitMQ keeps a TTL in 32 bits of milliseconds: about 49.7 days is the longest delay. */
export const MAX_TTL_MS = 2 ** 32 - 1;

/** --retry-delays '1,5,30' as milliseconds, each checked, in the order of the attempts. */
export function parseDelays(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  return parts.map((part) => {
    const seconds = Number(part);
    if (part === '' || !Number.isFinite(seconds))
      throw new UsageError(
        `--retry-delays must be seconds separated by commas, such as 1,5,30, not '${text}'.`,
      );
    if (seconds < 0)
      throw new UsageError(`--retry-delays cannot hold a negative delay (${part}): give 0 or more seconds.`);
    const ms = Math.round(seconds * 1000);
    if (ms > MAX_TTL_MS)
      throw new UsageError(
        `A retry delay of ${part} s is beyond what a TTL can hold (${MAX_TTL_MS} ms, about 49.7 days): give a shorter delay.`,
      );
    return ms;
  });
}

/** Shown in queue names: 1s, 0.2s, 30s. */
const label = (ms: number) => `${ms / 1000}s`;

export const names = (queue: string) => ({
  work: queue,
  /** The work queue's dead-letter exchange: what it dead-letters goes to the parking lot. */
  dlx: `${queue}.dlx`,
  parking: `${queue}.parking-lot`,
  retry: (ms: number) => `${queue}.retry.${label(ms)}`,
});

/** The routing key the dead-letter exchange routes to the parking lot with. */
export const PARKED_KEY = 'parked';

export interface WorkQueueOptions {
  /** x-delivery-limit: unset leaves the broker's default (none on 3.10, 20 on 4.x). */
  deliveryLimit?: number;
  /** x-max-length with drop-head: the oldest are dead-lettered (reason maxlen), at most once. */
  maxLength?: number;
}

// #region work-queue
/** The work queue: a quorum queue whose dead letters go, at least once, to the parking lot. */
export const workQueueArguments = (queue: string, options: WorkQueueOptions = {}) => ({
  'x-queue-type': 'quorum',
  'x-dead-letter-exchange': names(queue).dlx,
  'x-dead-letter-routing-key': PARKED_KEY,
  // Without these two, dead-lettering is at-most-once: a letter lost in a restart is gone.
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
  ...(options.deliveryLimit === undefined ? {} : { 'x-delivery-limit': options.deliveryLimit }),
  ...(options.maxLength === undefined ? {} : maxLengthArguments(options.maxLength)),
});
// #endregion

// #region max-length
/** A full queue that dead-letters its oldest (maxlen) cannot be at-least-once: that needs reject-publish. */
const maxLengthArguments = (maxLength: number) => ({
  'x-max-length': maxLength,
  'x-overflow': 'drop-head',
  'x-dead-letter-strategy': 'at-most-once',
});
// #endregion

/** Declares the work queue's dead-letter exchange and the parking lot bound to it. */
export async function declareParking(channel: Channel, queue: string) {
  const { dlx, parking } = names(queue);
  await channel.assertExchange(dlx, 'direct', { durable: true });
  // Classic: listing the lot takes and gives back every message, and a quorum queue counts each
  // give-back as a delivery (RabbitMQ 4 drops a message after 20 of them).
  await channel.assertQueue(parking, { durable: true, arguments: { 'x-queue-type': 'classic' } });
  await channel.bindQueue(parking, dlx, PARKED_KEY);
}

/** Declares the work queue, its dead-letter exchange and the parking lot. */
export async function declareWork(channel: Channel, queue: string, options: WorkQueueOptions = {}) {
  await declareParking(channel, queue);
  return channel.assertQueue(queue, { durable: true, arguments: workQueueArguments(queue, options) });
}

// #region retry-queue
/** A retry queue: nobody consumes it; after `ms` each message expires back to the work queue. */
export const retryQueueOptions = (queue: string, ms: number): Options.AssertQueue => ({
  durable: true,
  arguments: {
    'x-queue-type': 'quorum',
    'x-message-ttl': ms, // per queue: every message waits the same, so none blocks another
    'x-dead-letter-exchange': '', // the default exchange: the routing key is a queue's name
    'x-dead-letter-routing-key': queue,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  },
});
// #endregion

export async function declareRetries(channel: Channel, queue: string, delays: number[]) {
  for (const ms of new Set(delays))
    await channel.assertQueue(names(queue).retry(ms), retryQueueOptions(queue, ms));
}

/** How a task's text says it behaves: `flaky N:` fails its first N attempts, `poison:` always. */
export function behaviour(task: string): { failsUntil: number; why: string } {
  const flaky = /^flaky (\d+):/.exec(task);
  if (flaky) return { failsUntil: Number(flaky[1]), why: `flaky: fails its first ${flaky[1]} attempts` };
  if (/^poison:/.test(task)) return { failsUntil: Infinity, why: 'poison: fails every attempt' };
  return { failsUntil: 0, why: '' };
}
