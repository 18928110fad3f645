// Process results: joins producer and consumer CSVs by message id into latency.csv, summary.csv
// and report.html. Streams its input (read-csv.ts), so millions of rows fit in memory; the
// statistics are in statistics.ts, the charts in report.ts.

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { number, rows } from './read-csv.ts';
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

  const index = new Map<string, number>();
  const sentAt = new Numbers();
  const brokerAckedAt = new Numbers();
  const sentText: string[] = [];
  const ackedText: string[] = [];
  let producerDuplicates = 0;
  for (const file of options.producer) {
    for await (const batch of rows('producer', file)) {
      for (const [id, sent, acked] of batch) {
        if (index.has(id)) {
          producerDuplicates++;
          continue;
        }
        index.set(id, sentAt.length);
        sentAt.push(number(file, sent, 'sent_at'));
        brokerAckedAt.push(number(file, acked, 'acked_at'));
        sentText.push(sent);
        ackedText.push(acked);
      }
    }
  }

  const matched = new Uint8Array(sentAt.length);
  const sendMs = new Numbers();
  const latencyMs = new Numbers();
  const matchedSent = new Numbers();
  const receivedAt = new Numbers();
  let consumed = 0;
  let consumerDuplicates = 0;
  let unexpected = 0;
  let firstReceived = Number.POSITIVE_INFINITY;
  let lastConsumerAck = Number.NEGATIVE_INFINITY;
  const unexpectedExamples: string[] = [];

  const latencyFile = createWriteStream(join(options.out, 'latency.csv'));
  latencyFile.write('message_id,sent_at,broker_acked_at,received_at,consumer_acked_at,send_ms,latency_ms\n');
  let block: string[][] = [];
  const writeBlock = async () => {
    // csv-stringify's sync API on blocks of rows: its stream API costs twice as much per row.
    if (block.length && !latencyFile.write(stringify(block))) await once(latencyFile, 'drain');
    block = [];
  };
  for (const file of options.consumer) {
    for await (const batch of rows('consumer', file)) {
      for (const [id, received, acked] of batch) {
        consumed++;
        const at = index.get(id);
        const receivedValue = number(file, received, 'received_at');
        const ackedValue = number(file, acked, 'acked_at');
        if (receivedValue < firstReceived) firstReceived = receivedValue;
        if (ackedValue > lastConsumerAck) lastConsumerAck = ackedValue;
        if (at === undefined) {
          unexpected++;
          if (unexpectedExamples.length < 10) unexpectedExamples.push(id);
          continue;
        }
        if (matched[at]) {
          consumerDuplicates++;
          continue;
        }
        matched[at] = 1;
        const send = brokerAckedAt.data[at]! - sentAt.data[at]!;
        const latency = receivedValue - sentAt.data[at]!;
        sendMs.push(send);
        latencyMs.push(latency);
        matchedSent.push(sentAt.data[at]!);
        receivedAt.push(receivedValue);
        block.push([id, sentText[at]!, ackedText[at]!, received, acked, send.toFixed(3), latency.toFixed(3)]);
      }
      if (block.length >= 5000) await writeBlock();
    }
  }
  await writeBlock();
  latencyFile.end();
  await once(latencyFile, 'finish');

  const missingExamples: string[] = [];
  let missing = 0;
  for (const [id, at] of index) {
    if (!matched[at]) {
      missing++;
      if (missingExamples.length < 10) missingExamples.push(id);
    }
  }

  const sent = sentAt.view();
  const brokerAcked = brokerAckedAt.view();
  const span = (from: number, to: number) => (to > from ? (to - from) / 1000 : Number.NaN);
  const results: Results = {
    produced: sent.length,
    consumed,
    matched: sendMs.length,
    missing,
    unexpected,
    duplicates: { producer: producerDuplicates, consumer: consumerDuplicates },
    throughput: {
      producer: sent.length / span(minMax(sent)[0], minMax(brokerAcked)[1]),
      consumer: consumed / span(firstReceived, lastConsumerAck),
    },
    send: statistics('send_ms', sendMs.view()),
    latency: statistics('latency_ms', latencyMs.view()),
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
      latencyMs: latencyMs.view(),
      sentAt: matchedSent.view(),
      receivedAt: receivedAt.view(),
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
