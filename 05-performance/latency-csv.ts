// latency.csv, a block at a time: each row is bytes copied from the two rows it joins (their fields
// are CSV already, see read-csv.ts) and the two differences, so a million rows make no million strings.

import type { FileHandle } from 'node:fs/promises';
import type { ProducerRows } from './producer-rows.ts';
import type { Rows } from './read-csv.ts';

const COMMA = 44;
const NEWLINE = 10;

function copy(from: Buffer, start: number, end: number, to: Buffer, at: number): number {
  for (let i = start; i < end; i++) to[at++] = from[i]!;
  return at;
}

function ascii(text: string, to: Buffer, at: number): number {
  for (let i = 0; i < text.length; i++) to[at++] = text.charCodeAt(i);
  return at;
}

export class LatencyCsv {
  private block = Buffer.allocUnsafe(1 << 21);
  private length = 0;

  constructor(private readonly handle: FileHandle) {
    this.length = ascii(
      'message_id,sent_at,broker_acked_at,received_at,consumer_acked_at,send_ms,latency_ms\n',
      this.block,
      0,
    );
  }

  /** A row: the consumer row's id, producer row n's two times, the consumer row's two, send and latency. */
  add(consumer: Rows, producer: ProducerRows, n: number, sendMs: number, latencyMs: number): void {
    const send = sendMs.toFixed(3);
    const latency = latencyMs.toFixed(3);
    const from = producer.timesStart(n);
    const to = producer.end(n);
    const size = consumer.end - consumer.start + (to - from) + send.length + latency.length + 4;
    if (this.length + size > this.block.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.block.length * 2, this.length + size));
      this.block.copy(bigger, 0, 0, this.length);
      this.block = bigger;
    }
    const block = this.block;
    let at = copy(consumer.bytes, consumer.start, consumer.comma1 + 1, block, this.length); // id,
    at = copy(producer.bytes, from, to, block, at);
    block[at++] = COMMA;
    at = copy(consumer.bytes, consumer.comma1 + 1, consumer.end, block, at);
    block[at++] = COMMA;
    at = ascii(send, block, at);
    block[at++] = COMMA;
    at = ascii(latency, block, at);
    block[at++] = NEWLINE;
    this.length = at;
  }

  /** Writes what the block holds, and empties it. */
  async flush(): Promise<void> {
    for (let written = 0; written < this.length; ) {
      written += (await this.handle.write(this.block, written, this.length - written)).bytesWritten;
    }
    this.length = 0;
  }
}
