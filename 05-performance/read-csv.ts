// Reading lesson 05's CSVs: producer rows (message_id,sent_at,acked_at) and consumer rows
// (message_id,received_at,acked_at), a block of bytes at a time, with one sentence for a wrong file
// or row (file and line).
//
// Why rows are split here and not by csv-parse: on the bench's 1,000,000 + 1,000,000 rows, csv-parse
// alone, reading the rows and nothing else (streamed, 1 MiB reads, records taken in batches), took
// 5.6 s: three quarters of what the plain readline-and-split join took to read, join and write them
// (7.4 s), and more than twice readline, split and Number() alone (2.4 s); this reader takes 0.95 s
// (medians of 3, README, "How fast is process-results"). Kept for every row, csv-parse would leave
// process-results no faster than the plain join at best. Our programs write plain fields (no quotes,
// no commas in a field), so a line without a quote is split at its commas here and its numbers are
// read straight from its bytes: no string per field, no array per row. A line with a quote in it
// goes to csv-parse, which knows the whole CSV grammar.

import { open, stat } from 'node:fs/promises';
import { CsvError, parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { CourseError } from '../shared/errors.ts';

export type Kind = 'producer' | 'consumer';
const columns: Record<Kind, [string, string, string]> = {
  producer: ['message_id', 'sent_at', 'acked_at'],
  consumer: ['message_id', 'received_at', 'acked_at'],
};

const NEWLINE = 10;
const RETURN = 13;
const COMMA = 44;
const QUOTE = 34;
const DOT = 46;
const ZERO = 48;
const header = Buffer.from('message_id');
const bom = Buffer.from([0xef, 0xbb, 0xbf]);
const powersOfTen = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * A cursor over the rows of one block of a CSV: `next()` moves to the next row and sets where its
 * three fields lie in `bytes` (`id` from `start` to `comma1`, the two times after it up to `comma2`
 * and `end`), so a million rows make no million objects. The fields are as the CSV holds them (a
 * row that came through csv-parse is written again the way csv-stringify writes it), ready to be
 * copied into another CSV as they are.
 */
export class Rows {
  bytes: Buffer = Buffer.alloc(0);
  start = 0;
  comma1 = 0;
  comma2 = 0;
  end = 0;
  /** The current row's line in its file (empty lines and the header count). */
  line = 0;
  private block: Buffer = this.bytes;
  private at = 0;
  private limit = 0;

  constructor(
    readonly kind: Kind,
    readonly file: string,
  ) {}

  /** A new block, whose first `length` bytes are complete lines. */
  reset(block: Buffer, length: number): void {
    this.block = block;
    this.at = 0;
    this.limit = length;
  }

  next(): boolean {
    const block = this.block;
    const limit = this.limit;
    while (this.at < limit) {
      this.line++;
      const start = this.at;
      let commas = 0;
      let comma1 = -1;
      let comma2 = -1;
      let quoted = false;
      let i = start;
      for (; i < limit; i++) {
        const c = block[i];
        if (c === NEWLINE) break;
        if (c === COMMA) {
          if (commas === 0) comma1 = i;
          else if (commas === 1) comma2 = i;
          commas++;
        } else if (c === QUOTE) quoted = true;
      }
      this.at = i + 1;
      const end = i > start && block[i - 1] === RETURN ? i - 1 : i;
      if (end === start) continue; // an empty line
      if (quoted) {
        if (this.parseQuoted(block.toString('utf8', start, end))) return true;
        continue;
      }
      if (this.line === 1 && block.subarray(start, commas ? comma1 : end).equals(header)) continue;
      if (commas !== 2) this.wrongFields(commas + 1);
      this.bytes = block;
      this.start = start;
      this.comma1 = comma1;
      this.comma2 = comma2;
      this.end = end;
      return true;
    }
    return false;
  }

  /** A line with a quote, read by csv-parse; false when it holds no row (`""`, or the header). */
  private parseQuoted(text: string): boolean {
    let fields: string[];
    try {
      [fields = []] = parse(text, { relax_column_count: true }) as string[][];
    } catch (error) {
      if (!(error instanceof CsvError)) throw error;
      throw new CourseError(
        `${this.file} line ${this.line} is not a valid CSV row (${error.code}): is it a ${this.kind} CSV?`,
        { code: 'BAD_CSV' },
      );
    }
    if (fields.length === 1 && fields[0] === '') return false;
    if (this.line === 1 && fields[0] === 'message_id') return false;
    if (fields.length !== 3) this.wrongFields(fields.length);
    const [id, a, b] = fields.map((field) => stringify([[field]]).slice(0, -1));
    this.bytes = Buffer.from(`${id},${a},${b}`);
    this.start = 0;
    this.comma1 = Buffer.byteLength(id!);
    this.comma2 = this.comma1 + 1 + Buffer.byteLength(a!);
    this.end = this.bytes.length;
    return true;
  }

  private wrongFields(count: number): never {
    throw new CourseError(
      `${this.file} line ${this.line} has ${count} field${count === 1 ? '' : 's'}, expected 3 (${columns[this.kind].join(',')}): is it a ${this.kind} CSV?`,
      { code: 'BAD_CSV' },
    );
  }

  /** The row's message id, as a key (one byte, one character: the same bytes, the same key). */
  id(): string {
    return this.bytes.toString('latin1', this.start, this.comma1);
  }

  /** The id as a person reads it, for messages and examples. */
  idText(): string {
    return idText(this.id());
  }

  /** Field 1 or 2 as a number; anything that is not one is one sentence with the file and the line. */
  number(field: 1 | 2): number {
    const from = field === 1 ? this.comma1 + 1 : this.comma2 + 1;
    const to = field === 1 ? this.comma2 : this.end;
    const value = decimal(this.bytes, from, to);
    if (!Number.isNaN(value)) return value;
    // Anything else Number() accepts (an exponent, a sign, spaces), as before the fast path.
    const text = this.bytes.toString('utf8', from, to);
    const slow = Number(text);
    if (text.trim() === '' || !Number.isFinite(slow)) {
      throw new CourseError(
        `${this.file} line ${this.line}: ${columns[this.kind][field]} '${text}' is not a number (epoch milliseconds).`,
        { code: 'BAD_CSV' },
      );
    }
    return slow;
  }
}

/** An id given by Rows.id() as a person reads it: the UTF-8 it was, without the quotes it needed. */
export function idText(id: string): string {
  const text = Buffer.from(id, 'latin1').toString('utf8');
  return text.startsWith('"') ? ((parse(text) as string[][])[0]?.[0] ?? text) : text;
}

/**
 * Digits with an optional decimal point (`1700000000123.456`), read from bytes; NaN for anything
 * else. Exactly what Number() gives: the digits make an integer below 2^53, held exactly, and one
 * division by an exact power of ten is rounded correctly, as Number() rounds the decimal.
 */
function decimal(bytes: Buffer, from: number, to: number): number {
  let value = 0;
  let digits = 0;
  let point = -1;
  for (let i = from; i < to; i++) {
    const d = bytes[i]! - ZERO;
    if (d >= 0 && d <= 9) {
      value = value * 10 + d;
      digits++;
    } else if (bytes[i] === DOT && point < 0) point = i;
    else return Number.NaN;
  }
  const decimals = point < 0 ? 0 : to - point - 1;
  if (digits === 0 || value > Number.MAX_SAFE_INTEGER || decimals >= powersOfTen.length) return Number.NaN;
  return decimals ? value / powersOfTen[decimals]! : value;
}

/**
 * The rows of one CSV, a block at a time: the same cursor each time, over the block just read, so
 * read its rows before asking for the next block. A header line is skipped; a wrong row throws one
 * sentence.
 */
export async function* readRows(kind: Kind, file: string): AsyncGenerator<Rows> {
  const info = await stat(file).catch(() => undefined);
  if (!info)
    throw new CourseError(`The ${kind} CSV ${file} does not exist: check the path.`, { code: 'BAD_FILE' });
  if (info.isDirectory())
    throw new CourseError(`${file} is a folder, not a ${kind} CSV.`, { code: 'BAD_FILE' });
  const handle = await open(file);
  try {
    const rows = new Rows(kind, file);
    let block = Buffer.allocUnsafe(1 << 20);
    let kept = 0; // the start of a line the last block cut off, moved to the front
    let first = true;
    for (;;) {
      if (kept === block.length) {
        // A line longer than the block: a bigger block.
        const bigger = Buffer.allocUnsafe(block.length * 2);
        block.copy(bigger, 0, 0, kept);
        block = bigger;
      }
      const { bytesRead } = await handle.read(block, kept, block.length - kept, null);
      let filled = kept + bytesRead;
      if (first && block.subarray(0, Math.min(3, filled)).equals(bom)) {
        // A byte-order mark (a spreadsheet's UTF-8 export) is not part of the first field.
        block.copy(block, 0, 3, filled);
        filled -= 3;
      }
      first = false;
      const done = bytesRead === 0;
      const complete = done || filled === 0 ? filled : block.lastIndexOf(NEWLINE, filled - 1) + 1;
      rows.reset(block, complete);
      yield rows;
      if (done) return;
      block.copy(block, 0, complete, filled);
      kept = filled - complete;
    }
  } finally {
    await handle.close();
  }
}
