// The producer rows process-results keeps, found by message id: each row's bytes end to end in one
// growing buffer, and a hash table (open addressing over an Int32Array) from an id's bytes to its row
// number. A Map keyed by strings did the same with a string per id, a million strings to make, hash,
// hold and collect on the bench's rows: 4.1 s and 305 MiB against 2.7 s and 245 MiB (medians of 3).

import type { Rows } from './read-csv.ts';
import { Numbers } from './statistics.ts';

const EMPTY = -1;

/** FNV-1a over the bytes: spreads ids that differ only in their last digits. */
function hash(bytes: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

export class ProducerRows {
  /** Each row as read (`id,sent_at,acked_at`), end to end. */
  bytes = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  private ends = new Numbers();
  private commas = new Numbers();
  /** Row number per slot (EMPTY when free), and the hash of its id, so a bigger table needs no rehash. */
  private slots = new Int32Array(1 << 16).fill(EMPTY);
  private hashes = new Uint32Array(1 << 16);

  get length(): number {
    return this.ends.length;
  }

  start(n: number): number {
    return n === 0 ? 0 : this.ends.data[n - 1]!;
  }

  /** Where row n's times (`sent_at,acked_at`) lie in `bytes`. */
  timesStart(n: number): number {
    return this.commas.data[n]! + 1;
  }

  end(n: number): number {
    return this.ends.data[n]!;
  }

  /** Row n's id, as Rows.id() gives it. */
  id(n: number): string {
    return this.bytes.toString('latin1', this.start(n), this.commas.data[n]!);
  }

  /** The number of the row with the current row's id, or −1. */
  find(row: Rows): number {
    return this.slots[this.slot(row.bytes, row.start, row.comma1, hash(row.bytes, row.start, row.comma1))]!;
  }

  /** Keeps the current row as the next row number and returns −1, or, when its id is kept already, that row's number. */
  add(row: Rows): number {
    const h = hash(row.bytes, row.start, row.comma1);
    const slot = this.slot(row.bytes, row.start, row.comma1, h);
    if (this.slots[slot] !== EMPTY) return this.slots[slot]!;
    this.slots[slot] = this.length;
    this.hashes[slot] = h;
    this.keep(row);
    if (this.length * 2 > this.slots.length) this.grow();
    return -1;
  }

  /** The slot that holds this id, or the free slot where it belongs. */
  private slot(bytes: Buffer, start: number, end: number, h: number): number {
    const mask = this.slots.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const n = this.slots[slot]!;
      if (n === EMPTY) return slot;
      if (this.hashes[slot] === h && this.sameId(n, bytes, start, end)) return slot;
    }
  }

  private sameId(n: number, bytes: Buffer, start: number, end: number): boolean {
    const from = this.start(n);
    if (this.commas.data[n]! - from !== end - start) return false;
    for (let i = 0; i < end - start; i++) if (this.bytes[from + i] !== bytes[start + i]) return false;
    return true;
  }

  private keep(row: Rows): void {
    const size = row.end - row.start;
    if (this.used + size > this.bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + size));
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
    const from = this.used;
    for (let i = row.start; i < row.end; i++) this.bytes[this.used++] = row.bytes[i]!;
    this.commas.push(from + row.comma1 - row.start);
    this.ends.push(this.used);
  }

  /** Twice the slots, each row moved by the hash it has: the table stays at most half full. */
  private grow(): void {
    const slots = this.slots;
    const hashes = this.hashes;
    this.slots = new Int32Array(slots.length * 2).fill(EMPTY);
    this.hashes = new Uint32Array(slots.length * 2);
    const mask = this.slots.length - 1;
    for (let old = 0; old < slots.length; old++) {
      if (slots[old] === EMPTY) continue;
      let slot = hashes[old]! & mask;
      while (this.slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.slots[slot] = slots[old]!;
      this.hashes[slot] = hashes[old]!;
    }
  }
}
