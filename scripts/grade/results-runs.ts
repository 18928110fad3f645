// Verifies lesson 05's results in an unpacked archive: every run folder's summary is recomputed from
// the run's own CSVs by the lesson's processResults (never a second copy of its statistics) and
// compared, figure by figure, with the run's summary.csv, results/summary.md and SUBMISSION.md.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Configuration } from '../../05-performance/configurations.ts';
import { processResults, type Results } from '../../05-performance/process-results.ts';
import { summaryTable } from '../../05-performance/run-experiment.ts';
import type { Finding } from './finding.ts';
import { summaryRows } from './submission.ts';

/** The folders that hold a run: a summary.csv, or producer CSVs, under results/. */
function runFolders(files: string[]): string[] {
  const folders = new Set<string>();
  for (const file of files) {
    if (!file.startsWith('results/')) continue;
    const base = file.slice(file.lastIndexOf('/') + 1);
    if (base === 'summary.csv' || /^producer.*\.csv$/.test(base)) folders.add(dirname(file));
  }
  return [...folders].sort();
}

/** summary.csv as measure → column → text. */
function summaryCsv(text: string): Map<string, Map<string, string>> {
  const records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  return new Map(records.map((record) => [record.measure ?? '', new Map(Object.entries(record))]));
}

/** Each cell of `claimed` that differs from `recomputed`, as one sentence. */
function compare(
  where: string,
  claimed: Map<string, Map<string, string>>,
  recomputed: Map<string, Map<string, string>>,
): Finding[] {
  const findings: Finding[] = [];
  for (const [row, cells] of recomputed) {
    const claim = claimed.get(row);
    if (!claim) {
      findings.push({ text: `${where} has no ${row} row`, fails: true });
      continue;
    }
    for (const [column, value] of cells) {
      if (column === 'configuration') continue; // the name and what it changes: words, not figures
      const said = claim.get(column);
      if (said !== value)
        findings.push({
          text: `${where} says ${row} ${column} ${said === undefined || said === '' ? '(nothing)' : said}, its CSVs give ${value || '(nothing)'}`,
          fails: true,
        });
    }
  }
  return findings;
}

async function recompute(
  root: string,
  folder: string,
  files: string[],
): Promise<{ results?: Results; summary?: string; findings: Finding[] }> {
  const inFolder = (pattern: RegExp) =>
    files.filter((file) => dirname(file) === folder && pattern.test(file.slice(folder.length + 1)));
  const producer = inFolder(/^producer.*\.csv$/);
  const consumer = inFolder(/^consumer.*\.csv$/);
  if (!producer.length)
    return { findings: [{ text: `${folder} cannot be recomputed: it holds no producer CSV`, fails: true }] };
  const out = mkdtempSync(join(tmpdir(), 'grade-run-'));
  try {
    const results = await processResults({
      producer: producer.map((file) => join(root, file)),
      consumer: consumer.map((file) => join(root, file)),
      out,
    });
    const findings: Finding[] = [];
    for (const side of ['producer', 'consumer'] as const) {
      const count = results.duplicates[side];
      const csvs = side === 'producer' ? producer : consumer;
      if (count)
        findings.push({
          text: `${csvs.length === 1 ? csvs[0] : `${folder}'s ${side} CSVs`} hold${csvs.length === 1 ? 's' : ''} ${count} duplicated message id${count === 1 ? '' : 's'}${side === 'consumer' ? ' (redeliveries, if the summary counts them)' : ''}`,
          // A producer writes one row per confirmed id, never two; a consumer sees a redelivery
          // after a failover again, which the summary's duplicates figure (compared below) reports.
          fails: side === 'producer',
        });
    }
    return { results, summary: readFileSync(join(out, 'summary.csv'), 'utf8'), findings };
  } catch (error) {
    // The lesson's sentence names the file by the path it was read from: give the archive's.
    const text = (error as Error).message.split(`${root}/`).join('').replace(/\.$/, '');
    return { findings: [{ text: `${folder} cannot be recomputed: ${text}`, fails: true }] };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** A configuration for summaryTable: only its name is printed in the cells compared. */
const row = (name: string): Configuration => ({
  name,
  about: '',
  producer: [],
  consumer: [],
  count: 0,
  workers: 1,
});

/** Findings about every lesson 05 run in the archive unpacked at `root`. */
export async function verifyRuns(
  root: string,
  files: string[],
  submissionTable: Map<string, Map<string, string>>,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const folders = runFolders(files);
  const summaryMd = files.includes('results/summary.md')
    ? summaryRows(readFileSync(join(root, 'results/summary.md'), 'utf8'))
    : new Map<string, Map<string, string>>();
  if (!folders.length && !submissionTable.size && !summaryMd.size)
    return [{ text: 'no lesson 05 results run to verify', fails: false }];
  for (const folder of folders) {
    const { results, summary, findings: found } = await recompute(root, folder, files);
    findings.push(...found);
    if (!results || summary === undefined) continue;
    if (files.includes(`${folder}/summary.csv`)) {
      try {
        const claimed = summaryCsv(readFileSync(join(root, folder, 'summary.csv'), 'utf8'));
        findings.push(...compare(`${folder}/summary.csv`, claimed, summaryCsv(summary)));
      } catch (error) {
        findings.push({
          text: `${folder}/summary.csv cannot be read as a summary (${(error as Error).message})`,
          fails: true,
        });
      }
    } else findings.push({ text: `${folder} has no summary.csv to compare`, fails: false });
    // A run of run-experiment is results/<configuration>/, one row of its summary table.
    const name = relative('results', folder);
    const recomputedRow = summaryRows(summaryTable([row(name)], { [name]: results }));
    for (const [where, table] of [
      ['results/summary.md', summaryMd],
      ['SUBMISSION.md', submissionTable],
    ] as const) {
      if (table.has(name)) findings.push(...compare(where, table, recomputedRow));
    }
  }
  for (const [where, table] of [
    ['results/summary.md', summaryMd],
    ['SUBMISSION.md', submissionTable],
  ] as const) {
    for (const name of table.keys())
      if (!folders.includes(`results/${name}`))
        findings.push({ text: `${where} claims a run '${name}' the archive does not hold`, fails: true });
  }
  return findings;
}
