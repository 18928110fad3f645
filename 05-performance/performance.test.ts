// Lesson 05's promises: complete, well-formed CSVs from threaded producers and consumers; a processor
// that gets known answers right and reports what does not match; a report that renders.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { launchBrowser } from '../scripts/browser.ts';
import { brokerUrls } from '../shared/connection.ts';
import { ManagementClient } from '../shared/management.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { expectOneSentence, runProgram, uniqueName, useTestConnection } from '../test/testing.ts';
import { processResults } from './process-results.ts';
import { niceTicks } from './report.ts';

const rabbit = useTestConnection();

const scratch = () => mkdtempSync(join(tmpdir(), 'lesson05-'));
const csvRows = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => line.split(','));

/** Checks a CSV: 3 fields, numeric timestamps with microsecond decimals, first ≤ second, ids once. */
function checkCsv(text: string, expected: number) {
  const rows = csvRows(text);
  const ids = new Set(rows.map((r) => r[0]));
  const disorder = rows.filter((r) => !(Number(r[1]) <= Number(r[2])));
  const malformed = rows.filter(
    (r) => r.length !== 3 || !/^\d{13}\.\d{3}$/.test(r[1]!) || !/^\d{13}\.\d{3}$/.test(r[2]!),
  );
  expect({
    rows: rows.length,
    unique: ids.size,
    disorder: disorder.length,
    malformed: malformed.slice(0, 3),
  }).toEqual({
    rows: expected,
    unique: expected,
    disorder: 0,
    malformed: [],
  });
  return ids;
}

describe('producer and consumer', () => {
  test('2 producer workers and 2 consumer workers, 5000 messages: every id once in both CSVs, timestamps in order, ids unique across workers', async () => {
    const queue = rabbit.own(uniqueName('perf'));
    const consumer = runProgram('05-performance/consumer', [
      '--queue',
      queue,
      '--workers',
      '2',
      '--count',
      '5000',
      '--batch',
      '50',
    ]);
    const producer = await runProgram('05-performance/producer', [
      '--queue',
      queue,
      '--workers',
      '2',
      '--count',
      '2500',
      '--run-id',
      'test',
    ]);
    expect(producer.code).toBe(0);
    expect(producer.stderr).toMatch(/producer: 5000 messages of 1000 B confirmed/);
    const consumed = await consumer;
    expect(consumed.code).toBe(0);
    const sent = checkCsv(producer.stdout, 5000);
    const received = checkCsv(consumed.stdout, 5000);
    expect([...received].sort()).toEqual([...sent].sort());
    const workers = new Set([...sent].map((id) => /^test-(\d+)-\d+$/.exec(id!)?.[1]));
    expect(workers).toEqual(new Set(['0', '1']));
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(0);
  });

  test.each([
    ['batches of 100', ['--batch', '100']],
    ['streamed, 1000 in flight', ['--batch', '0', '--max-in-flight', '1000']],
    ['confirm each (--max-in-flight 1)', ['--max-in-flight', '1']],
  ])('%s: a complete CSV, and the queue holds exactly those messages', async (_, flags) => {
    const queue = rabbit.own(uniqueName('perf-mode'));
    const producer = await runProgram('05-performance/producer', [
      '--queue',
      queue,
      '--count',
      '700',
      '--size',
      '100',
      ...flags,
    ]);
    expect(producer.code).toBe(0);
    checkCsv(producer.stdout, 700);
    const consumer = await runProgram('05-performance/consumer', [
      '--queue',
      queue,
      '--count',
      '700',
      '--batch',
      '64',
    ]);
    expect(consumer.code).toBe(0);
    expect([...checkCsv(consumer.stdout, 700)].sort()).toEqual(
      csvRows(producer.stdout)
        .map((r) => r[0])
        .sort(),
    );
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(0); // and nothing else
  });

  test('a quorum queue works the same way', async () => {
    const queue = rabbit.own(uniqueName('perf-quorum'));
    const producer = await runProgram('05-performance/producer', [
      '--queue',
      queue,
      '--queue-type',
      'quorum',
      '--count',
      '300',
    ]);
    expect(producer.code).toBe(0);
    const consumer = await runProgram('05-performance/consumer', [
      '--queue',
      queue,
      '--queue-type',
      'quorum',
      '--count',
      '300',
    ]);
    expect(consumer.code).toBe(0);
    const sent = checkCsv(producer.stdout, 300);
    expect([...checkCsv(consumer.stdout, 300)].sort()).toEqual([...sent].sort());
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(0);
    // And it was a quorum queue: a producer that ignored --queue-type would pass everything above.
    expect((await new ManagementClient().queue(queue))?.arguments['x-queue-type']).toBe('quorum');
  });
});

describe('the README’s one-machine recipe', () => {
  test('runs as typed through npm (no banner in the CSVs) and process-results reads what it wrote', async () => {
    const dir = scratch();
    const queue = rabbit.own(uniqueName('perf-readme'));
    // The README's commands, word for word, in a shell; QUEUE (the --queue flag's variable) keeps
    // the test off a learner's perf_queue.
    const script = [
      'mkdir -p results',
      'npm run --silent lesson:05 -- consumer --count 1000 > results/consumer.csv &   # start the consumer first',
      'npm run --silent lesson:05 -- producer --count 1000 > results/producer.csv',
      'wait',
      'npm run lesson:05 -- process-results --producer results/producer.csv --consumer results/consumer.csv --out results/run1',
    ]
      .map((line) =>
        line.replace(/results\//g, `${dir}/results/`).replace('mkdir -p results', `mkdir -p ${dir}/results`),
      )
      .join('\n');
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('sh', ['-c', script], {
        cwd: repoRoot,
        env: { ...process.env, QUEUE: queue, FORCE_COLOR: '0' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let text = '';
      child.stderr.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      child.on('close', (exit) => resolve({ code: exit, stderr: text }));
    });
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stderr).toMatch(
      /produced 1000, consumed 1000, matched 1000, missing 0, unexpected 0, duplicates 0/,
    );
    checkCsv(readFileSync(join(dir, 'results', 'producer.csv'), 'utf8'), 1000);
  });
});

describe('report ticks', () => {
  test.each([
    [13.2, 14.6],
    [0, 0.1234],
    [1000.5, 1013],
    [0, 21_437],
  ])('ticks between %p and %p are round and distinct', (lo, hi) => {
    const { values, digits } = niceTicks(lo, hi);
    const labels = values.map((v) => v.toFixed(digits));
    expect(new Set(labels).size).toBe(labels.length);
    expect(labels.length).toBeGreaterThanOrEqual(3);
    expect(values.every((v) => v >= lo && v <= hi)).toBe(true);
  });
});

describe('process-results', () => {
  function handMade() {
    const dir = scratch();
    const p1 = join(dir, 'p1.csv');
    const p2 = join(dir, 'p2.csv');
    const c1 = join(dir, 'c1.csv');
    writeFileSync(
      p1,
      'message_id,sent_at,acked_at\nr-0-1,1000.000,1002.000\nr-0-2,1001.000,1005.500\nr-0-3,1002.000,1003.000\n',
    );
    writeFileSync(p2, 'r-1-1,1000.500,1001.500\nr-1-2,1003.000,1004.000\nr-1-2,1003.000,1004.000\n');
    // r-0-3 is never consumed (missing); x-9-9 was never produced (unexpected); r-0-1 arrives twice.
    writeFileSync(
      c1,
      'r-0-1,1010.000,1011.000\nr-0-2,1003.000,1004.000\nr-1-1,1004.500,1005.000\nr-1-2,1013.000,1014.000\nx-9-9,1015.000,1016.000\nr-0-1,1020.000,1021.000\n',
    );
    return { dir, p1, p2, c1 };
  }

  test('known answers: latency.csv rows, summary.csv values, and the counts of missing, unexpected and duplicate ids', async () => {
    const { dir, p1, p2, c1 } = handMade();
    const out = join(dir, 'out');
    const results = await processResults({ producer: [p1, p2], consumer: [c1], out });
    expect(readFileSync(join(out, 'latency.csv'), 'utf8')).toBe(
      [
        'message_id,sent_at,broker_acked_at,received_at,consumer_acked_at,send_ms,latency_ms',
        'r-0-1,1000.000,1002.000,1010.000,1011.000,2.000,10.000',
        'r-0-2,1001.000,1005.500,1003.000,1004.000,4.500,2.000',
        'r-1-1,1000.500,1001.500,1004.500,1005.000,1.000,4.000',
        'r-1-2,1003.000,1004.000,1013.000,1014.000,1.000,10.000',
        '',
      ].join('\n'),
    );
    // send_ms of the 4 matched: 1, 1, 2, 4.5 → nearest-rank p50 = 1 (rank 2), p90 = p95 = p99 = 4.5.
    // latency_ms: 2, 4, 10, 10 → p50 = 4, p90 = 10.
    expect(readFileSync(join(out, 'summary.csv'), 'utf8')).toBe(
      [
        'measure,count,min,mean,p50,p90,p95,p99,max',
        'send_ms,4,1.000,2.125,1.000,4.500,4.500,4.500,4.500',
        'latency_ms,4,2.000,6.500,4.000,10.000,10.000,10.000,10.000',
        '',
      ].join('\n'),
    );
    expect(results).toMatchObject({
      produced: 5,
      consumed: 6,
      matched: 4,
      missing: 1,
      unexpected: 1,
      duplicates: { producer: 1, consumer: 1 },
      examples: { missing: ['r-0-3'], unexpected: ['x-9-9'] },
    });
  });

  test('report.html renders its counts and three charts in headless Chromium, offline', async () => {
    const { dir, p1, p2, c1 } = handMade();
    const out = join(dir, 'out');
    await processResults({ producer: [p1, p2], consumer: [c1], out });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith('file:')) requests.push(request.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(pathToFileURL(join(out, 'report.html')).href);
      const charts = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((svg) => ({
          id: svg.id,
          width: svg.getBoundingClientRect().width,
          marks: svg.querySelectorAll('rect.bar, polyline').length,
        })),
      );
      expect(charts.map((c) => c.id)).toEqual([
        'latency-histogram',
        'latency-over-time',
        'throughput-over-time',
      ]);
      for (const chart of charts) {
        expect(chart.width).toBeGreaterThan(300);
        expect(chart.marks).toBeGreaterThan(0);
      }
      const bars = await page.$$eval('#latency-histogram rect.bar', (rects) =>
        rects.reduce((sum, r) => sum + Number(r.getAttribute('height')), 0),
      );
      expect(bars).toBeGreaterThan(0);
      expect(await page.textContent('#counts')).toMatch(/missing \(produced, never consumed\)\s*1/);
      // Ticks never repeat on an axis (at --scale 0.1 they used to read 13 13 13 14 14).
      const axesTicks = await page.$$eval('svg.chart', (svgs) =>
        svgs.flatMap((svg) =>
          ['middle', 'end'].map((anchor) =>
            [...svg.querySelectorAll(`text.tick[text-anchor="${anchor}"]`)].map((t) => t.textContent ?? ''),
          ),
        ),
      );
      for (const labels of axesTicks) expect(labels).toEqual([...new Set(labels)]);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]); // nothing fetched: it works offline
    } finally {
      await browser.close();
    }
  });
});

describe('bad input: one sentence, non-zero exit', () => {
  test.each([
    [
      'a CSV that does not exist',
      () => ['--producer', join(tmpdir(), 'no-such.csv'), '--consumer', join(tmpdir(), 'no-such-c.csv')],
      /The producer CSV .*no-such\.csv does not exist/,
    ],
    [
      'a CSV with the wrong number of columns',
      () => {
        const file = join(scratch(), 'bad.csv');
        writeFileSync(file, 'r-0-1,1000.000,1001.000\nr-0-2,1000.000\n');
        return ['--producer', file, '--consumer', file];
      },
      /bad\.csv line 2 has 2 fields, expected 3 \(message_id,sent_at,acked_at\)/,
    ],
    ['no producer files', () => ['--consumer', 'x.csv'], /No producer CSVs given/],
  ])('process-results: %s', async (_, args, pattern) => {
    const exit = await runProgram('05-performance/process-results', [...args(), '--out', scratch()]);
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });

  test.each([
    [['--workers', '0'], /--workers must be at least 1, not 0/],
    [['--size', '-1'], /--size must be at least 1, not -1/],
    [['--batch', 'x'], /--batch must be a whole number, not 'x'/],
  ])('producer %p exits 2', async (args, pattern) => {
    const exit = await runProgram('05-performance/producer', args);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });

  test('a --url with an unencoded / in its password is named as --url, not AMQP_URL', async () => {
    const exit = await runProgram('05-performance/consumer', [
      '--url',
      'amqp://guest:se/cret@localhost:5672',
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/^--url is not a URL RabbitMQ can use \(amqp:\/\/guest:\*\*\*@/m);
    expect(expectOneSentence(exit.stderr, 'cret')).toEqual([]);
  });

  test('a wrong password in --url: the sentence sends the learner to --url, not AMQP_URL', async () => {
    const url = new URL(brokerUrls()[0]!);
    url.username = 'guest';
    url.password = 'wrong-SECRET';
    const exit = await runProgram('05-performance/producer', ['--url', url.href, '--count', '1']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /refused the login for user 'guest': check the user name and password in --url /,
    );
    expect(expectOneSentence(exit.stderr, 'SECRET')).toEqual([]);
  });

  test('run-experiment with a wrong password in --url: the sentence sends the learner to --url, before any child starts', async () => {
    const url = new URL(brokerUrls()[0]!);
    url.username = 'guest';
    url.password = 'wrong-SECRET';
    const out = scratch();
    const exit = await runProgram('05-performance/run-experiment', [
      'reference',
      '--url',
      url.href,
      '--out',
      out,
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /refused the login for user 'guest': check the user name and password in --url /,
    );
    expect(expectOneSentence(exit.stderr, 'SECRET')).toEqual([]);
  });

  test('a broker that is not there', async () => {
    const exit = await runProgram('05-performance/producer', [
      '--url',
      'amqp://guest:secret@127.0.0.1:1',
      '--workers',
      '2',
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/Could not connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/);
    expect(expectOneSentence(exit.stderr, 'secret')).toEqual([]);
  });
});

describe('run-experiment', () => {
  test('runs a configuration end to end into results/<name>/', async () => {
    const out = scratch();
    const exit = await runProgram('05-performance/run-experiment', [
      'reference',
      '--scale',
      '0.2',
      '--out',
      out,
    ]);
    expect(exit.code).toBe(0);
    const summary = readFileSync(join(out, 'reference', 'summary.csv'), 'utf8');
    expect(summary).toMatch(/^latency_ms,200,/m);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toMatch(/\| reference — .* \| 200 \|/);
    expect(readFileSync(join(out, 'reference', 'report.html'), 'utf8')).toContain(
      '<svg id="latency-histogram"',
    );
  });
});
