// read-csv.ts splits plain lines by hand for speed: what csv-parse would read, it reads the same
// (a header, CRLF, a byte-order mark, empty lines, quoted fields, a comma inside quotes, rows across
// blocks, a line longer than a block), and a bad row is one sentence with its file and line.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import { processResults } from './process-results.ts';
import { type Kind, readRows } from './read-csv.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'lesson05-csv-'));

/** Every row readRows gives, as [line, id, number, number]. */
async function read(kind: Kind, file: string): Promise<[number, string, number, number][]> {
  const out: [number, string, number, number][] = [];
  for await (const row of readRows(kind, file)) {
    while (row.next()) out.push([row.line, row.idText(), row.number(1), row.number(2)]);
  }
  return out;
}

describe('read-csv', () => {
  test('reads what csv-parse reads: header, CRLF, byte-order mark, empty lines, quotes, a comma in an id, other number forms', async () => {
    const file = join(scratch(), 'p.csv');
    writeFileSync(
      file,
      '\uFEFFmessage_id,sent_at,acked_at\r\n' +
        'r-0-1,1700000000123.456,1700000000125.5\r\n' +
        '\r\n' +
        '"r-0-2","1700000000124.000",1700000000126\r\n' +
        '"a,b",.5,1e3\r\n' +
        'r-0-3, 12 ,1.\r\n' +
        '""\r\n' +
        'r-0-4,0.1,0.30000000000000004',
    );
    const rows = await read('producer', file);
    // csv-parse on the same text, then Number() on each time: the same rows, the same numbers.
    const expected = (
      parse(readFileSync(file, 'utf8'), { bom: true, relax_column_count: true }) as string[][]
    )
      .filter((fields) => fields.length === 3 && fields[0] !== 'message_id')
      .map(([id, a, b]) => [id, Number(a), Number(b)]);
    expect(rows.map(([, id, a, b]) => [id, a, b])).toEqual(expected);
    expect(rows.map(([line]) => line)).toEqual([2, 4, 5, 6, 8]);
  });

  test('rows across blocks and a line longer than a block, joined and written as CSV', async () => {
    const dir = scratch();
    const producer = join(dir, 'p.csv');
    const consumer = join(dir, 'c.csv');
    const long = 'x'.repeat(3 << 19); // an id of 1.5 MiB: longer than the 1 MiB block
    const ids = [...Array.from({ length: 40_000 }, (_, i) => `r-0-${i}`), long, '"q""uote,d"'];
    writeFileSync(producer, ids.map((id, i) => `${id},${1000 + i},${1001.5 + i}\n`).join(''));
    writeFileSync(
      consumer,
      ids
        .map((id, i) => `${id},${1010 + i},${1011 + i}\n`)
        .reverse()
        .join(''),
    );
    const results = await processResults({
      producer: [producer],
      consumer: [consumer],
      out: join(dir, 'out'),
    });
    expect(results).toMatchObject({ produced: ids.length, matched: ids.length, missing: 0, unexpected: 0 });
    const latency = readFileSync(join(dir, 'out', 'latency.csv'), 'utf8')
      .split('\n')
      .slice(1, -1);
    // Each row copied from its two rows as they were (the quoted id with its quotes), in the consumer's order.
    const expected = ids.map(
      (id, i) => `${id},${1000 + i},${1001.5 + i},${1010 + i},${1011 + i},1.500,10.000`,
    );
    expected.reverse();
    expect(latency.length).toBe(expected.length);
    expect(latency.filter((row, k) => row !== expected[k]).map((row) => row.slice(0, 80))).toEqual([]);
    expect(parse(latency[0]!)).toEqual([
      ['q"uote,d', '41001', '41002.5', '41011', '41012', '1.500', '10.000'],
    ]);
  });

  test.each([
    ['r-0-1,1000.000,1001.000\nr-0-2,abc,1001.000\n', /p\.csv line 2: sent_at 'abc' is not a number/],
    ['r-0-1,1000.000,1001.000\n\nr-0-2,1000.000,\n', /p\.csv line 3: acked_at '' is not a number/],
    ['r-0-1,1000.000,1001.000\nr-0-2,"1000.000,1001.000\n', /p\.csv line 2 is not a valid CSV row/],
    ['r-0-1,1000.000,1001.000\n"r-0-2",1000.000\n', /p\.csv line 2 has 2 fields, expected 3/],
  ])('a bad row is named with its file and line: %p', async (text, message) => {
    const file = join(scratch(), 'p.csv');
    writeFileSync(file, text);
    await expect(read('producer', file)).rejects.toThrow(message);
  });
});
