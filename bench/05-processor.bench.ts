// Lesson 05's processor against the plainest join (bench/raw/plain-join.ts: readline, split(',') and
// a Map), side by side on the same CSVs: time and peak memory. Needs no broker.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, peakRss, rate, row, run } from './harness.ts';

const rows = Number(process.env.BENCH_PROCESSOR_ROWS ?? 1_000_000);
const rounds = Number(process.env.BENCH_PROCESSOR_ROUNDS ?? 3);

/** One CSV of `rows` rows like the programs write: `b-0-<i>,<t>,<t + 2.125>`, t moving 0.1 ms a row. */
function writeCsv(file: string, offsetMs: number) {
  const lines = Array.from(
    { length: rows },
    (_, i) =>
      `b-0-${i},${(1.7e12 + i / 10 + offsetMs).toFixed(3)},${(1.7e12 + i / 10 + offsetMs + 2.125).toFixed(3)}\n`,
  );
  writeFileSync(file, lines.join(''));
}

export default async function bench(): Promise<void> {
  const dir = join(tmpdir(), `bench-processor-${process.pid}`);
  const producerCsv = join(dir, 'producer.csv');
  const consumerCsv = join(dir, 'consumer.csv');
  mkdirSync(dir, { recursive: true });
  writeCsv(producerCsv, 0);
  writeCsv(consumerCsv, 5);
  process.stderr.write(`${rounds} alternating rounds each; ${rows} producer rows + ${rows} consumer rows.\n`);

  const runs = {
    lesson: { rates: [] as number[], rss: [] as number[] },
    raw: { rates: [] as number[], rss: [] as number[] },
  };
  const contenders = {
    lesson: () =>
      run('05-performance/process-results.ts', [
        '--producer',
        producerCsv,
        '--consumer',
        consumerCsv,
        '--out',
        join(dir, 'lesson'),
      ]),
    raw: () => run('bench/raw/plain-join.ts', [join(dir, 'raw'), producerCsv, consumerCsv]),
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, once] of Object.entries(contenders) as [
        keyof typeof contenders,
        () => Promise<string>,
      ][]) {
        const output = await once();
        runs[name].rates.push(rate(output));
        runs[name].rss.push(peakRss(output));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const seconds = (name: keyof typeof runs) => `${((2 * rows) / median(runs[name].rates)).toFixed(2)} s`;
  const memory = (name: keyof typeof runs) => `${median(runs[name].rss)} MiB peak RSS`;
  row(`process-results, ${rows} + ${rows} rows: lesson`, `${seconds('lesson')}, ${memory('lesson')}`);
  row(`process-results, ${rows} + ${rows} rows: plain join`, `${seconds('raw')}, ${memory('raw')}`);
  row(
    '  ratio lesson / plain join, rows/s (target ≥ 1)',
    (median(runs.lesson.rates) / median(runs.raw.rates)).toFixed(3),
  );
}
