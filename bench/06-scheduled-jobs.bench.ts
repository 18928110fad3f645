// Lesson 06's publisher, with Mosquitto as installed at MQTT_URL: jobs per minute for one
// publisher at 100 and 1,000 jobs per read and for five side by side, each with the default lanes
// next to a one-lane run, a raw pg + mqtt.js baseline with the same lanes, and the MQTT leg alone
// with no database (the machine's ceiling), in the same session, counted by an independent
// subscriber's clock; then
// what the claim costs, and what jobs_due's dead entries do until VACUUM.
// BENCH_NODELAY=1 adds the same runs against a Mosquitto of the bench's own (port 1884) with
// set_tcp_nodelay true, stopped afterwards; the Mosquitto at MQTT_URL is never reconfigured.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase } from '../06-scheduled-jobs/postgres.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { run } from './harness.ts';

const jobs = Number(process.env.BENCH_JOBS ?? 100_000);

interface Counted {
  unique: number;
  duplicates: number;
  seconds: number;
}

function subscriber(topic: string, count: number, env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, '06-scheduled-jobs/subscriber.ts'),
      ...['--topic', topic, '--count', String(count), '--qos', '0', '--status-seconds', '3600'],
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
  const done = new Promise<Counted>((resolve) =>
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

interface Scenario {
  publishers: number;
  perRead: number;
  lanes: number;
  /**
   * The lesson's publisher; the raw pg + mqtt.js baseline (bench/raw/mqtt-pg-publisher.ts); or the
   * MQTT leg alone, no database (bench/raw/mqtt-only-publisher.ts): this machine's ceiling.
   */
  kind: 'lesson' | 'raw' | 'mqtt only';
}

function publisherRun(
  { publishers, perRead, lanes, kind }: Scenario,
  schema: string,
  index: number,
  env: NodeJS.ProcessEnv,
) {
  const name = `B${index}`;
  if (kind === 'raw')
    return run('bench/raw/mqtt-pg-publisher.ts', [schema, String(perRead), String(lanes), name], env);
  if (kind === 'mqtt only') {
    const share = jobs / publishers; // each its own range of ids, as the table would have handed out
    const args = [
      `job/${schema}/t`,
      String(share),
      String(perRead),
      String(lanes),
      String(index * share + 1),
    ];
    return run('bench/raw/mqtt-only-publisher.ts', args, env);
  }
  return run(
    '06-scheduled-jobs/publisher.ts',
    [
      ...['--schema', schema, '--name', name, '--jobs-per-read', String(perRead)],
      ...['--lanes', String(lanes), '--exit-when-idle', '--status-seconds', '3600'],
    ],
    env,
  );
}

/** Drops a run's schema, returning how many of its jobs were left unprocessed. */
async function dropJobs(schema: string): Promise<number> {
  const db = await connectDatabase();
  const { rows } = await db.query(`SELECT count(*) FROM ${schema}.jobs WHERE NOT processed`);
  await db.query(`DROP SCHEMA ${schema} CASCADE`);
  await db.end();
  return Number(rows[0].count);
}

interface Measured extends Counted {
  perMinute: number;
  left: number;
  claimMs: number;
}

async function measure(scenario: Scenario, env: NodeJS.ProcessEnv): Promise<Measured> {
  const { publishers, perRead, lanes, kind } = scenario;
  const schema = `bench06_${process.pid}_${publishers}_${perRead}_${lanes}_${kind.replace(' ', '_')}`;
  const topic = `job/${schema}`;
  const table = kind !== 'mqtt only'; // the ceiling publishes without a table
  if (table)
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
  const outputs = await Promise.all(
    Array.from({ length: publishers }, (_, i) => publisherRun(scenario, schema, i, env)),
  );
  const stop = setTimeout(() => counter.child.kill('SIGINT'), 10_000); // a lost job would leave it waiting
  const counted = await counter.done;
  clearTimeout(stop);
  const claims = outputs.map((output) => Number(/claim ([\d.]+) ms avg/.exec(output)?.[1] ?? Number.NaN));
  const left = table ? await dropJobs(schema) : 0;
  return {
    ...counted,
    perMinute: (counted.unique / counted.seconds) * 60,
    left,
    claimMs: claims.reduce((a, b) => a + b, 0) / claims.length,
  };
}

const number = (value: number) => Math.round(value).toLocaleString('en');

function line(cells: string[]): void {
  process.stdout.write(`| ${cells.join(' | ')} |\n`);
}

async function table(env: NodeJS.ProcessEnv, lanes: number): Promise<void> {
  const scenarios: [string, number, number, string][] = [
    ['1 publisher, 100 jobs/read', 1, 100, '≥ 1,000,000'],
    ['1 publisher, 1000 jobs/read', 1, 1000, '≥ 2,000,000'],
    ['5 publishers, 1000 jobs/read', 5, 1000, '≥ 2,400,000'],
  ];
  line([
    'scenario',
    'publisher',
    'lanes',
    'jobs/min',
    'lost',
    'duplicates',
    'left due',
    'claim ms avg',
    'target',
  ]);
  line(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  for (const [label, publishers, perRead, target] of scenarios) {
    const contenders: [string, Scenario][] = [
      ['lesson', { publishers, perRead, lanes: 1, kind: 'lesson' }],
      ['lesson', { publishers, perRead, lanes, kind: 'lesson' }],
      ['raw pg + mqtt.js', { publishers, perRead, lanes, kind: 'raw' }],
      ['mqtt.js alone, no database (ceiling)', { publishers, perRead, lanes, kind: 'mqtt only' }],
    ];
    const rates: number[] = [];
    for (const [who, scenario] of contenders) {
      const m = await measure(scenario, env);
      rates.push(m.perMinute);
      line([
        label,
        who,
        String(scenario.lanes),
        number(m.perMinute),
        String(jobs - m.unique),
        String(m.duplicates),
        String(m.left),
        Number.isNaN(m.claimMs) ? '' : m.claimMs.toFixed(1),
        scenario.lanes === lanes && scenario.kind === 'lesson' ? target : '',
      ]);
    }
    line([label, `lesson / raw, ${lanes} lanes`, '', (rates[1]! / rates[2]!).toFixed(3), '', '', '', '', '']);
    line([
      label,
      `lesson / ceiling, ${lanes} lanes`,
      '',
      (rates[1]! / rates[3]!).toFixed(3),
      '',
      '',
      '',
      '',
      '',
    ]);
  }
}

/** The claim's SELECT, timed with EXPLAIN ANALYZE, with dead jobs_due entries in front of it and after VACUUM. */
async function deadEntries(): Promise<void> {
  const schema = `bench06_dead_${process.pid}`;
  const db = await connectDatabase();
  await db.query(`CREATE SCHEMA ${schema}`);
  await db.query(`SET search_path = ${schema}`);
  await db.query(readFileSync(join(repoRoot, '06-scheduled-jobs/schema.sql'), 'utf8'));
  await db.query('ALTER TABLE jobs SET (autovacuum_enabled = off)');
  await db.query(
    `INSERT INTO jobs (topic, payload, fire_at) SELECT 't', '{}', now() - interval '1 hour' + n * interval '1 ms' FROM generate_series(1, ${jobs}) n`,
  );
  const claimCost = async () => {
    const plan = (
      await db.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM jobs WHERE NOT processed AND fire_at <= now()
         ORDER BY fire_at LIMIT 100 FOR UPDATE SKIP LOCKED`,
      )
    ).rows[0]['QUERY PLAN'][0];
    const buffers = (plan.Plan['Shared Hit Blocks'] ?? 0) + (plan.Plan['Shared Read Blocks'] ?? 0);
    return `${plan['Execution Time'].toFixed(2)} ms, ${buffers} buffers`;
  };
  process.stdout.write(
    `\njobs_due with ${number(jobs)} due jobs, none processed: claim ${await claimCost()}\n`,
  );
  // Mark all but the last 1,000 processed, as the publishers would, with autovacuum off for this table.
  await db.query(
    `UPDATE jobs SET processed = true WHERE id IN (SELECT id FROM jobs ORDER BY fire_at LIMIT ${jobs - 1000})`,
  );
  process.stdout.write(
    `${number(jobs - 1000)} processed since the last vacuum: first claim ${await claimCost()}`,
  );
  process.stdout.write(`, second claim ${await claimCost()}\n`);
  await db.query('VACUUM jobs');
  process.stdout.write(`after VACUUM: claim ${await claimCost()}\n`);
  await db.query(`DROP SCHEMA ${schema} CASCADE`);
  await db.end();
}

/** A Mosquitto of the bench's own on port 1884 with the course's config (set_tcp_nodelay true). */
async function nodelayMosquitto(): Promise<{ url: string; child: ChildProcess; config: string }> {
  const config = join(tmpdir(), `bench-mosquitto-1884-${process.pid}.conf`);
  writeFileSync(
    config,
    readFileSync(join(repoRoot, 'scripts/mosquitto.conf'), 'utf8').replace(
      /^listener 1883 /m,
      'listener 1884 ',
    ),
  );
  const child = spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve) =>
    child.stderr.on('data', (chunk: Buffer) => {
      log += String(chunk);
      if (/listen socket on port 1884/.test(log)) resolve();
    }),
  );
  return { url: 'mqtt://127.0.0.1:1884', child, config };
}

export default async function bench(): Promise<void> {
  const lanes = 4;
  process.stderr.write(`${number(jobs)} due jobs per run; rate by the independent subscriber's clock.\n`);
  process.stdout.write('\nMosquitto at MQTT_URL, as installed (its own config, untouched):\n\n');
  await table({}, lanes);
  await deadEntries();
  if (process.env.BENCH_NODELAY === '1') {
    const own = await nodelayMosquitto();
    try {
      process.stdout.write('\nA Mosquitto of the bench’s own on 1884 with set_tcp_nodelay true:\n\n');
      await table({ MQTT_URL: own.url }, lanes);
    } finally {
      own.child.kill();
      await once(own.child, 'close');
      rmSync(own.config, { force: true });
    }
  }
}
