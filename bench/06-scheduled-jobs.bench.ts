// Lesson 06's publisher: jobs per minute for one instance (1000 and 100 jobs per read) and for five
// side by side, each counted by an independent subscriber, next to the C# reference's figures.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../shared/logger.ts';
import { connectDatabase } from '../shared/postgres.ts';
import { row, run } from './harness.ts';

const jobs = Number(process.env.BENCH_JOBS ?? 100_000);

function subscriber(topic: string, count: number, env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, '06-scheduled-jobs/subscriber.ts'),
      '--topic',
      topic,
      '--count',
      String(count),
      '--qos',
      '0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const ready = new Promise<void>((resolve) =>
    child.stderr.on('data', () => stderr.includes('Subscribed') && resolve()),
  );
  const done = new Promise<{ unique: number; duplicates: number; seconds: number }>((resolve) =>
    child.on('close', () => {
      const match = /(\d+) distinct jobs, (\d+) duplicates.*; ([\d.]+) s from the first/.exec(stderr);
      resolve({
        unique: Number(match?.[1] ?? 0),
        duplicates: Number(match?.[2] ?? 0),
        seconds: Number(match?.[3] ?? 0),
      });
    }),
  );
  return { ready, done, child };
}

async function scenario(label: string, instances: number, perRead: number, env: NodeJS.ProcessEnv = {}) {
  const schema = `bench06_${process.pid}_${instances}_${perRead}`;
  const topic = `job/${schema}`;
  await run('06-scheduled-jobs/enqueue.ts', [
    '--schema',
    schema,
    '--count',
    String(jobs),
    '--topic',
    `${topic}/t`,
  ]);
  const counter = subscriber(`${topic}/#`, jobs, env);
  await counter.ready;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: instances }, (_, i) =>
      run(
        '06-scheduled-jobs/publisher.ts',
        ['--schema', schema, '--name', `B${i}`, '--jobs-per-read', String(perRead), '--exit-when-idle'],
        env,
      ),
    ),
  );
  // Wall time from the first publisher's start to the last one's exit, process start-up included.
  const seconds = (performance.now() - started) / 1000;
  const stop = setTimeout(() => counter.child.kill('SIGINT'), 10_000); // a lost job would leave it waiting
  const counted = await counter.done;
  clearTimeout(stop);
  const db = await connectDatabase();
  const left = Number(
    (await db.query(`SELECT count(*) FROM ${schema}.jobs WHERE NOT processed`)).rows[0].count,
  );
  await db.query(`DROP SCHEMA ${schema} CASCADE`);
  await db.end();
  row(
    label,
    // The independent subscriber's clock: first to last arrival, without the publishers' start-up.
    `${Math.round((counted.unique / counted.seconds) * 60).toLocaleString('en')} jobs/min (${Math.round((jobs / seconds) * 60).toLocaleString('en')} with start-up); subscriber: ${counted.unique} distinct, ${counted.duplicates} duplicates, ${jobs - counted.unique} lost; ${left} left unprocessed`,
  );
}

/** A Mosquitto of the bench's own, with the course's config (set_tcp_nodelay true) on a free port. */
async function fastMosquitto(): Promise<{ url: string; child: ChildProcess }> {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  const config = join(tmpdir(), `bench-mosquitto-${port}.conf`);
  writeFileSync(
    config,
    readFileSync(join(repoRoot, 'scripts/mosquitto.conf'), 'utf8').replace(
      /^listener 1883 /m,
      `listener ${port} `,
    ),
  );
  const child = spawn('mosquitto', ['-c', config], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 300)); // a bench, not a test: let it bind
  return { url: `mqtt://127.0.0.1:${port}`, child };
}

export default async function bench(): Promise<void> {
  process.stderr.write(`${jobs} due jobs per scenario; wall time including each publisher's start-up.\n`);
  process.stdout.write(
    'Mosquitto at MQTT_URL, as configured on this machine (set_tcp_nodelay false, the default):\n',
  );
  await scenario('1 instance, 1000 jobs/read (target ≥ 1,000,000/min)', 1, 1000);
  await scenario('1 instance, 100 jobs/read (reference 45,000; target ≥ 300,000)', 1, 100);
  await scenario('5 instances, 1000 jobs/read (target ≥ 1,500,000/min)', 5, 1000);
  await scenario('5 instances, 100 jobs/read (reference 160,000/min)', 5, 100);
  const fast = await fastMosquitto();
  try {
    process.stdout.write('Mosquitto with the course config (set_tcp_nodelay true):\n');
    const env = { MQTT_URL: fast.url };
    await scenario('1 instance, 1000 jobs/read', 1, 1000, env);
    await scenario('1 instance, 100 jobs/read', 1, 100, env);
    await scenario('5 instances, 1000 jobs/read', 5, 1000, env);
    await scenario('5 instances, 100 jobs/read', 5, 100, env);
  } finally {
    fast.child.kill();
  }
}
