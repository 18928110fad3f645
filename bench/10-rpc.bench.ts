// Lesson 10: requests per second and reply latency (p50, p99) at concurrency 1, 10 and 100, for
// rpc-client with Direct Reply-to and with an exclusive reply queue, against the lesson's rpc-server,
// beside the plain amqplib RPC (bench/raw/amqplib-rpc.ts, Direct Reply-to) in the same run.
// Each pairing runs ROUNDS times, alternating; the table shows medians.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import amqp from 'amqplib';
import { brokerUrls } from '../shared/connection.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { median, row, run } from './harness.ts';

const ROUNDS = 3;
/** Requests per measurement, by concurrency: enough for a p99, short at concurrency 1. */
const REQUESTS: Record<number, number> = { 1: 300, 10: 1000, 100: 2000 };
const N = '10';

interface Figures {
  rate: number;
  p50: number;
  p99: number;
}

function figures(output: string): Figures {
  const match = /at (\d+) req\/s; reply latency p50 ([\d.]+) ms, p99 ([\d.]+) ms/.exec(output);
  if (!match) throw new Error(`no figures in:\n${output}`);
  return { rate: Number(match[1]), p50: Number(match[2]), p99: Number(match[3]) };
}

/** A server that runs until killed; resolves once it consumes. */
async function startServer(script: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, script), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/waiting|awaiting/.test(seen)) resolve();
    });
    child.on('close', (code) => reject(new Error(`${script} ended (exit ${code}):\n${seen}`)));
  });
  child.stderr!.resume();
  return child;
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'close');
}

export default async function bench(): Promise<void> {
  const connection = await amqp.connect(brokerUrls()[0] ?? 'amqp://localhost');
  const channel = await connection.createChannel();
  const queues = { lesson: `bench-rpc-${process.pid}`, raw: `bench-rpc-raw-${process.pid}` };
  const lessonServer = await startServer('10-rpc/rpc-server.ts', [
    '--queue',
    queues.lesson,
    '--prefetch',
    '100',
  ]);
  const rawServer = await startServer('bench/raw/amqplib-rpc.ts', ['server', queues.raw]);
  try {
    for (const concurrency of [1, 10, 100]) {
      const requests = REQUESTS[concurrency]!;
      const numbers = Array.from({ length: requests }, () => N);
      const contenders: Record<string, () => Promise<Figures>> = {
        'amqplib baseline (direct)': async () =>
          figures(
            await run('bench/raw/amqplib-rpc.ts', [
              'client',
              queues.raw,
              String(requests),
              String(concurrency),
              N,
            ]),
          ),
        'rpc-client (direct)': async () =>
          figures(
            await run('10-rpc/rpc-client.ts', [
              '--queue',
              queues.lesson,
              '--concurrency',
              String(concurrency),
              '--latency',
              ...numbers,
            ]),
          ),
        'rpc-client (exclusive)': async () =>
          figures(
            await run('10-rpc/rpc-client.ts', [
              '--queue',
              queues.lesson,
              '--concurrency',
              String(concurrency),
              '--latency',
              '--reply-queue',
              'exclusive',
              ...numbers,
            ]),
          ),
      };
      const results: Record<string, Figures[]> = Object.fromEntries(
        Object.keys(contenders).map((k) => [k, []]),
      );
      for (let round = 0; round < ROUNDS; round++)
        for (const [name, once] of Object.entries(contenders)) results[name]!.push(await once());
      for (const [name, all] of Object.entries(results)) {
        const rate = median(all.map((f) => f.rate));
        const p50 = median(all.map((f) => f.p50));
        const p99 = median(all.map((f) => f.p99));
        row(
          `concurrency ${concurrency}, ${requests} requests: ${name}`,
          `${rate.toFixed(0)} req/s; p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
        );
      }
    }
  } finally {
    await stop(lessonServer);
    await stop(rawServer);
    for (const queue of Object.values(queues)) await channel.deleteQueue(queue).catch(() => {});
    await connection.close();
  }
}
