// Process results: joins producer and consumer CSVs by message id into latency.csv, summary.csv
// and report.html. Reads its input a block of bytes at a time (read-csv.ts), keeps the producer rows
// as bytes and finds them by id (producer-rows.ts), and keeps numbers in typed arrays, so millions of
// rows fit in memory; latency.csv is written by latency-csv.ts, the statistics are in statistics.ts,
// the charts in report.ts.

import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { LatencyCsv } from './latency-csv.ts';
import { ProducerRows } from './producer-rows.ts';
import { idText, readRows } from './read-csv.ts';
import { renderReport } from './report.ts';
import { minMax, Numbers, type Results, statistics } from './statistics.ts';

export type { Results } from './statistics.ts';

export const program = defineProgram({
  name: 'process-results',
  summary: 'Join producer and consumer CSVs into latency.csv, summary.csv and report.html.',
  flags: {
    producer: { type: 'strings', description: 'producer CSVs: message_id,sent_at,acked_at' },
    consumer: { type: 'strings', description: 'consumer CSVs: message_id,received_at,acked_at' },
    out: { type: 'string', default: 'results', description: 'the folder to write into' },
    title: { type: 'string', default: 'RabbitMQ performance experiment', description: 'the report’s title' },
  },
  examples: [
    'npm run lesson:05 -- process-results --producer p1.csv p2.csv --consumer c1.csv --out results/run1',
  ],
});

export async function processResults(options: {
  producer: string[];
  consumer: string[];
  out: string;
  title?: string;
}): Promise<Results> {
  if (options.producer.length === 0) {
    throw new UsageError(
      'No producer CSVs given: pass them with --producer p1.csv p2.csv … (and --consumer c1.csv …).',
    );
  }
  await mkdir(options.out, { recursive: true });

  // Each producer row once, numbered: its times as numbers here, its bytes (for latency.csv) and its
  // id (to find it by) in producerRows.
  const producerRows = new ProducerRows();
  const sentAt = new Numbers();
  const brokerAckedAt = new Numbers();
  let producerDuplicates = 0;
  for (const file of options.producer) {
    for await (const row of readRows('producer', file)) {
      while (row.next()) {
        if (producerRows.add(row) >= 0) {
          producerDuplicates++;
          continue;
        }
        sentAt.push(row.number(1));
        brokerAckedAt.push(row.number(2));
      }
    }
  }

  // At most one match per producer row: the arrays can be as long as that from the start.
  const produced = sentAt.length;
  const matched = new Uint8Array(produced);
  const sendMs = new Float64Array(produced);
  const latencyMs = new Float64Array(produced);
  const matchedSent = new Float64Array(produced);
  const receivedAt = new Float64Array(produced);
  let matches = 0;
  let consumed = 0;
  let consumerDuplicates = 0;
  let unexpected = 0;
  let firstReceived = Number.POSITIVE_INFINITY;
  let lastConsumerAck = Number.NEGATIVE_INFINITY;
  const unexpectedExamples: string[] = [];

  const latencyFile = await open(join(options.out, 'latency.csv'), 'w');
  try {
    const latencyCsv = new LatencyCsv(latencyFile);
    for (const file of options.consumer) {
      for await (const row of readRows('consumer', file)) {
        while (row.next()) {
          consumed++;
          const at = producerRows.find(row);
          const received = row.number(1);
          const acked = row.number(2);
          if (received < firstReceived) firstReceived = received;
          if (acked > lastConsumerAck) lastConsumerAck = acked;
          if (at < 0) {
            unexpected++;
            if (unexpectedExamples.length < 10) unexpectedExamples.push(row.idText());
            continue;
          }
          if (matched[at]) {
            consumerDuplicates++;
            continue;
          }
          matched[at] = 1;
          const sent = sentAt.data[at]!;
          const send = brokerAckedAt.data[at]! - sent;
          const latency = received - sent;
          sendMs[matches] = send;
          latencyMs[matches] = latency;
          matchedSent[matches] = sent;
          receivedAt[matches] = received;
          matches++;
          latencyCsv.add(row, producerRows, at, send, latency);
        }
        await latencyCsv.flush();
      }
    }
    await latencyCsv.flush();
  } finally {
    await latencyFile.close();
  }

  // Every producer row matched once leaves nothing missing: then the rows need not be walked.
  const missing = produced - matches;
  const missingExamples: string[] = [];
  for (let n = 0; missing && n < produced && missingExamples.length < 10; n++)
    if (!matched[n]) missingExamples.push(idText(producerRows.id(n)));

  const sent = sentAt.view();
  const brokerAcked = brokerAckedAt.view();
  const span = (from: number, to: number) => (to > from ? (to - from) / 1000 : Number.NaN);
  const results: Results = {
    produced: sent.length,
    consumed,
    matched: matches,
    missing,
    unexpected,
    duplicates: { producer: producerDuplicates, consumer: consumerDuplicates },
    throughput: {
      producer: sent.length / span(minMax(sent)[0], minMax(brokerAcked)[1]),
      consumer: consumed / span(firstReceived, lastConsumerAck),
    },
    send: statistics('send_ms', sendMs.subarray(0, matches)),
    latency: statistics('latency_ms', latencyMs.subarray(0, matches)),
    examples: { missing: missingExamples, unexpected: unexpectedExamples },
  };

  await writeFile(
    join(options.out, 'summary.csv'),
    stringify([
      ['measure', 'count', 'min', 'mean', 'p50', 'p90', 'p95', 'p99', 'max'],
      ...[results.send, results.latency].map((s) => [
        s.measure,
        s.count,
        ...[s.min, s.mean, s.p50, s.p90, s.p95, s.p99, s.max].map((v) =>
          Number.isNaN(v) ? '' : v.toFixed(3),
        ),
      ]),
    ]),
  );
  await writeFile(
    join(options.out, 'report.html'),
    renderReport(options.title ?? 'RabbitMQ performance experiment', results, {
      latencyMs: latencyMs.subarray(0, matches),
      sentAt: matchedSent.subarray(0, matches),
      receivedAt: receivedAt.subarray(0, matches),
    }),
  );
  return results;
}

export async function processCommand(
  options: Values<typeof program.flags>,
  { log }: RunContext,
): Promise<Results> {
  const started = performance.now();
  const results = await processResults(options);
  const seconds = (performance.now() - started) / 1000;
  const f = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(2));
  log.info(
    ` [=] produced ${results.produced}, consumed ${results.consumed}, matched ${results.matched}, missing ${results.missing}, unexpected ${results.unexpected}, duplicates ${results.duplicates.producer + results.duplicates.consumer}`,
  );
  log.info(
    ` [=] send ms p50 ${f(results.send.p50)} p99 ${f(results.send.p99)}; latency ms p50 ${f(results.latency.p50)} p99 ${f(results.latency.p99)}`,
  );
  log.success(
    ` [✓] wrote latency.csv, summary.csv and report.html to ${options.out} in ${seconds.toFixed(2)} s (${Math.round((results.produced + results.consumed) / seconds)} rows/s)`,
  );
  return results;
}

runMain(import.meta, program, processCommand);
