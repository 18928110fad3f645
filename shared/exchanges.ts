// What the exchange lessons (08, 09) share outside the lesson itself: the --exchange flag and the
// checks of names and keys that RabbitMQ or amqplib would otherwise answer with a stack or a
// vague close, and the numbering that lets a receiver count the messages it missed.
import type { ConsumeMessage, Options } from 'amqplib';
import { UsageError } from './errors.ts';

/** --exchange: the exchange a lesson program uses; the default is the official tutorial's. */
export const exchangeFlag = (name: string) =>
  ({ type: 'string', default: name, description: 'the exchange to use' }) as const;

/**
 * The AMQP 0-9-1 spec allows letters, digits, '-', '_', '.' and ':' in an exchange name, up to 255
 * bytes. RabbitMQ 3.10 accepts more (spaces, '!'), but other clients and the management UI's URLs
 * stumble on them, so the course refuses them before asking the broker.
 */
export function checkExchangeName(name: string, flag = '--exchange'): string {
  if (Buffer.byteLength(name) > 255)
    throw new UsageError(
      `${flag} is ${Buffer.byteLength(name)} bytes long, and RabbitMQ's names stop at 255: choose a shorter name.`,
    );
  if (name === '')
    throw new UsageError(
      `${flag} is empty, which names the default exchange, which cannot be declared: give it a name such as logs.`,
    );
  const bad = /[^A-Za-z0-9_.:-]/.exec(name);
  if (bad)
    throw new UsageError(
      `${flag} '${name}' contains '${bad[0]}': use only letters, digits, '-', '_', '.' and ':' in an exchange name.`,
    );
  return name;
}

/** Routing and binding keys are AMQP short strings: amqplib throws a TypeError past 255 bytes. */
export function checkKey(key: string, what: string): string {
  const bytes = Buffer.byteLength(key);
  if (bytes > 255)
    throw new UsageError(
      `The ${what} is ${bytes} bytes long, and RabbitMQ's keys stop at 255: shorten it (the words of a key are for routing, the text goes in the message).`,
    );
  return key;
}

/**
 * A topic pattern with an empty word ('kern..critical', '.critical', 'kern.') matches only routing
 * keys with an empty word at that place, never 'kern.critical': almost always a typo, so refused.
 */
export function checkPattern(pattern: string): string {
  checkKey(pattern, `binding pattern '${pattern.slice(0, 40)}'`);
  if (pattern === '')
    throw new UsageError(
      "A binding pattern is empty: it would match only the empty routing key; give words such as 'kern.*', or '#' for every key.",
    );
  if (pattern.split('.').some((word) => word === ''))
    throw new UsageError(
      `The pattern '${pattern}' has an empty word (two dots together, or a dot at an end): it would match only keys with that empty word, never '${pattern.replace(/\.{2,}/g, '.').replace(/^\.|\.$/g, '')}'; write '${pattern.replace(/\.{2,}/g, '.*.').replace(/^\.|\.$/g, '')}' for one word there, or '#' for any number.`,
    );
  return pattern;
}

/** The headers an emitter puts on its n-th message: which run sent it, and its number. */
export function numbered(run: string, n: number): Options.Publish {
  return { messageId: `${run}:${n}`, headers: { 'x-emitter': run, 'x-seq': n } };
}

/**
 * Counts the messages a receiver never got, from the gaps in each emitter's numbers. Messages
 * without numbers (a tutorial's emitter) are not counted.
 */
export class MissedCounter {
  private readonly last = new Map<string, number>();
  total = 0;

  /** How many numbers were skipped before this message (0 for none, or an unnumbered message). */
  see(message: ConsumeMessage): number {
    const run = message.properties.headers?.['x-emitter'];
    const seq = message.properties.headers?.['x-seq'];
    if (typeof run !== 'string' || typeof seq !== 'number') return 0;
    const last = this.last.get(run);
    this.last.set(run, Math.max(seq, last ?? 0));
    if (last === undefined || seq <= last + 1) return 0;
    this.total += seq - last - 1;
    return seq - last - 1;
  }
}
