// Baseline: the plainest join of lesson 05's CSVs — readline, split(',') and a Map — writing the same
// latency.csv and the same nearest-rank percentiles as process-results, with none of its checks.
// Arguments: the folder to write into, the producer CSVs joined by commas, the consumer CSVs.
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [out = 'results', producers = '', ...consumers] = process.argv.slice(2);
const started = performance.now();
const lines = (file: string) => createInterface({ input: createReadStream(file), crlfDelay: Infinity });

const produced = new Map<string, [string, string]>();
let rows = 0;
for (const file of producers.split(',')) {
  for await (const line of lines(file)) {
    rows++;
    const [id, sent, acked] = line.split(',');
    produced.set(id!, [sent!, acked!]);
  }
}

mkdirSync(out, { recursive: true });
const latencyCsv = createWriteStream(join(out, 'latency.csv'));
latencyCsv.write('message_id,sent_at,broker_acked_at,received_at,consumer_acked_at,send_ms,latency_ms\n');
const sends: number[] = [];
const latencies: number[] = [];
for (const file of consumers) {
  for await (const line of lines(file)) {
    rows++;
    const [id, received, acked] = line.split(',');
    const p = produced.get(id!);
    if (!p) continue;
    const send = Number(p[1]) - Number(p[0]);
    const latency = Number(received) - Number(p[0]);
    sends.push(send);
    latencies.push(latency);
    const row = `${id},${p[0]},${p[1]},${received},${acked},${send.toFixed(3)},${latency.toFixed(3)}\n`;
    if (!latencyCsv.write(row)) await once(latencyCsv, 'drain');
  }
}
latencyCsv.end();
await once(latencyCsv, 'finish');

const rank = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
for (const [name, values] of [
  ['send_ms', sends],
  ['latency_ms', latencies],
] as const) {
  values.sort((a, b) => a - b);
  process.stderr.write(`${name}: p50 ${rank(values, 50)} p99 ${rank(values, 99)}\n`);
}
const seconds = (performance.now() - started) / 1000;
process.stderr.write(
  `plain join: ${rows} rows in ${seconds.toFixed(2)} s (${Math.round(rows / seconds)} rows/s)\n`,
);
