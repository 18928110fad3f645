// What the producer and consumer tell the monitor: the event format, the exchange it travels on,
// the sender's side (reporter) and the monitor's side (parseEvent).
import type { Channel, Connection } from '../shared/connection.ts';

/** What the producer and consumer tell the monitor, once a status period. */
export type PaceEvent =
  | {
      source: 'producer';
      targetRate: number;
      confirmedRate: number;
      inFlight: number;
      retrying: number;
      /** Back-pressure events since the last report, by kind. */
      backpressure: Record<'nack' | 'drain' | 'blocked', number>;
    }
  | {
      source: 'consumer';
      processed: number;
      latencies: number[];
      ages: number[];
      retried: number;
      dead: number;
    };

export async function declareEvents(channel: Channel, exchange: string): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: false });
}

/**
 * Reports to the monitor on a channel of its own: if the events exchange is deleted, the broker
 * closes that channel (404), and the data channel must not go down with it. Fire and forget:
 * figures for humans, not worth a confirm; a report that fails is dropped and the next one retries.
 */
export function reporter(connection: Connection, exchange: string): (event: PaceEvent) => void {
  let channel: Channel | undefined;
  let opening: Promise<void> | undefined;
  return (event) => {
    if (channel && connection.isOpen(channel)) {
      channel.publish(exchange, event.source, Buffer.from(JSON.stringify(event)));
      return;
    }
    if (opening || connection.closed) return;
    opening = connection
      .channel()
      .then(async (fresh) => {
        await declareEvents(fresh, exchange);
        channel = fresh;
        fresh.publish(exchange, event.source, Buffer.from(JSON.stringify(event)));
      })
      .catch(() => {})
      .finally(() => {
        opening = undefined;
      });
  };
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const finites = (value: unknown): number[] =>
  Array.isArray(value) ? value.filter((item) => finite(item) && item >= 0) : [];

/**
 * Reads an event off the wire. Anything can publish to the exchange: a message that is not one of
 * ours, or a figure that is not a number, is dropped (undefined) instead of reaching the metrics.
 */
export function parseEvent(content: Buffer): PaceEvent | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(content.toString()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (raw?.source === 'producer' && finite(raw.targetRate)) {
    const pressure = (raw.backpressure ?? {}) as Record<string, unknown>;
    const count = (kind: string) => (finite(pressure[kind]) ? Math.max(0, pressure[kind] as number) : 0);
    return {
      source: 'producer',
      targetRate: raw.targetRate,
      confirmedRate: finite(raw.confirmedRate) ? raw.confirmedRate : 0,
      inFlight: finite(raw.inFlight) ? raw.inFlight : 0,
      retrying: finite(raw.retrying) ? raw.retrying : 0,
      backpressure: { nack: count('nack'), drain: count('drain'), blocked: count('blocked') },
    };
  }
  if (raw?.source === 'consumer') {
    return {
      source: 'consumer',
      processed: finite(raw.processed) ? raw.processed : 0,
      latencies: finites(raw.latencies),
      ages: finites(raw.ages),
      retried: finite(raw.retried) ? raw.retried : 0,
      dead: finite(raw.dead) ? raw.dead : 0,
    };
  }
  return undefined;
}
