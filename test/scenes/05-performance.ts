// What lesson 05's fault drills share: reading the programs' CSVs, a queue's ready messages, the
// accounting of what was confirmed against what was consumed or left (test/testing.ts's drainQueue
// empties a queue), duplicates counted, and the checks every drill ends with.
import { expect } from '@jest/globals';
import amqp from 'amqplib';
import type { Running } from '../testing.ts';

/** The ids of a CSV the producer or consumer wrote (first column). */
export const ids = (csv: string): string[] =>
  csv
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(',')[0]!);

/** Messages ready in a queue (a passive declare: exact, unlike the management API's figures). */
export async function ready(url: string, queue: string): Promise<{ messages: number; consumers: number }> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    const reply = await channel.checkQueue(queue).catch(() => ({ messageCount: 0, consumerCount: 0 }));
    return { messages: reply.messageCount, consumers: reply.consumerCount };
  } finally {
    await connection.close().catch(() => {});
  }
}

export interface DrillRow {
  drill: string;
  did: string;
  confirmed: number;
  consumed: number;
  duplicates: number;
  lost: number;
  recoverMs: number;
}

export const table: DrillRow[] = [];

/**
 * The accounting every drill ends with: every id the producer's CSV lists as confirmed is in a
 * consumer's CSV or still in a queue; duplicates (the same id handled or held twice) are counted.
 */
export function account(confirmed: string[], consumed: string[][], left: string[]) {
  const seen = new Set([...consumed.flat(), ...left]);
  const all = consumed.flat().length + left.length;
  const lost = confirmed.filter((id) => !seen.has(id));
  return { lost, duplicates: all - seen.size, consumed: consumed.flat().length };
}

/** Nothing printed a stack or a password (the private node's user is guest:guest). */
export function expectQuiet(...programs: Running[]) {
  for (const program of programs) {
    expect(program.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(program.stderr).not.toContain(':guest@');
  }
}
