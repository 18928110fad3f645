// The sentences for a learner's queue mistakes: a misspelt --queue creates a new queue nobody reads
// (a producer's tasks then wait there for ever) or one nobody sends to (a consumer waits for ever).
// The lesson file still declares its queue itself (assertQueue); this only asks first and words it.
import type { Connection } from './connection.ts';

/**
 * Whether `queue` exists, asked on a throwaway channel: a passive declare (checkQueue) of a missing
 * queue is answered with 404, which closes the channel it was asked on.
 */
export async function queueExists(connection: Connection, queue: string): Promise<boolean> {
  const channel = await connection.channel();
  try {
    await channel.checkQueue(queue);
    await channel.close().catch(() => {});
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return false;
    throw error;
  }
}

export interface Roles {
  /** What waits in the queue: 'its messages', 'its tasks'. */
  items: string;
  /** Who would read it: 'a receiver', 'a worker'. */
  reader: string;
}

/**
 * A producer's line after its assertQueue (`consumerCount` from its reply): the queue is new, or
 * nobody reads it, or both. Undefined when neither: then there is nothing to warn about.
 */
export function producerNote(
  queue: string,
  existed: boolean,
  consumerCount: number,
  roles: Roles,
): string | undefined {
  const nobody = `its ${roles.items.replace(/^its /, '')} wait until ${roles.reader} starts on ${queue}`;
  if (!existed) return `Queue ${queue} did not exist: created it. Nobody reads it yet: ${nobody}.`;
  if (consumerCount === 0) return `Nobody reads ${queue} yet: ${nobody}.`;
  return undefined;
}

/** A consumer's line when its assertQueue created the queue: nobody can have sent to it yet. */
export const createdNote = (queue: string) => `Queue ${queue} did not exist: created it.`;

/** How long a consumer on a queue it created waits, without a delivery, before it says so. */
export const QUIET_SECONDS = 10;

/** Said once, QUIET_SECONDS after a consumer started on a queue it created, if nothing arrived. */
export const quietNote = (queue: string, producer: string) =>
  `Nothing has arrived on ${queue} in ${QUIET_SECONDS} s, and nobody had sent to it before (it did not exist): if ${producer} is running, check that it sends to ${queue} (the spelling of --queue).`;
