// Replication cost: the same producer and consumer, side by side, on a quorum queue with three
// members (one per node) and on one with a single member, in alternating rounds of one session.

import { connect } from '../shared/connection.ts';
import { clusterUrl } from '../shared/course-cluster.ts';
import { defineProgram, parseOptions, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { consumeMessages, program as consumerProgram } from './consumer.ts';
import { produce, program as producerProgram } from './producer.ts';

export const program = defineProgram({
  name: 'replication-cost',
  summary: 'Measure msg/s and latency on a quorum queue with 3 members vs 1; prints a Markdown table.',
  flags: {
    count: { type: 'integer', min: 100, default: 20_000, description: 'messages per round' },
    rounds: { type: 'integer', min: 1, default: 2, description: 'rounds of each configuration' },
    size: { type: 'integer', min: 1, default: 100, description: 'message size in bytes' },
  },
  examples: [`AMQP_URL=${clusterUrl()} npm run lesson:07 -- replication-cost`],
});

/** Nearest-rank percentile, as lesson 05's process-results computes it. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export interface Row {
  replicas: number;
  round: number;
  msgPerSecond: number;
  confirm: [number, number, number];
  latency: [number, number, number];
}

export async function measure(options: Values<typeof program.flags>, context: RunContext): Promise<Row[]> {
  const { log } = context;
  const rows: Row[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const replicas of [3, 1]) {
      const queue = `replication-cost-${replicas}-${process.pid}-${round}`;
      const flags = ['--queue', queue, '--replicas', String(replicas)];
      const quiet = { ...context, log: { ...log, info: () => {}, success: () => {} } };
      // The consumer first, so the queue exists and messages flow through it as they arrive.
      const consumer = consumeMessages(
        parseOptions(consumerProgram, [...flags, '--count', String(options.count)]),
        quiet,
      );
      const sent = await produce(
        parseOptions(producerProgram, [
          ...flags,
          '--count',
          String(options.count),
          '--size',
          String(options.size),
        ]),
        quiet,
      );
      const received = await consumer;
      const confirm = [...sent.confirmMs].sort((a, b) => a - b);
      const latency = [...received.latencyMs].sort((a, b) => a - b);
      const row: Row = {
        replicas,
        round,
        msgPerSecond: Math.round(sent.confirmed / sent.seconds),
        confirm: [percentile(confirm, 50), percentile(confirm, 95), percentile(confirm, 99)],
        latency: [percentile(latency, 50), percentile(latency, 95), percentile(latency, 99)],
      };
      rows.push(row);
      log.info(
        ` [x] round ${round}, ${replicas} member${replicas > 1 ? 's' : ''}: ${row.msgPerSecond} msg/s, confirm p50 ${row.confirm[0].toFixed(1)} ms, latency p50 ${row.latency[0].toFixed(1)} ms`,
      );
      const connection = await connect({ log });
      await (await connection.channel()).deleteQueue(queue);
      await connection.close();
    }
  }
  const ms = (values: number[]) => values.map((v) => v.toFixed(1)).join(' / ');
  process.stdout.write(
    [
      '| quorum queue | round | msg/s | confirm ms p50 / p95 / p99 | end-to-end ms p50 / p95 / p99 |',
      '|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.replicas === 3 ? '3 members (3 nodes)' : '1 member (1 node)'} | ${r.round} | ${r.msgPerSecond} | ${ms(r.confirm)} | ${ms(r.latency)} |`,
      ),
      '',
    ].join('\n'),
  );
  return rows;
}

runMain(import.meta, program, measure);
