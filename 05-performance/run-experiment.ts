// Run experiment: runs named configurations of producer and consumer against one broker, with a
// progress bar, and processes each into results/<name>/ (latency.csv, summary.csv, report.html).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { brokerTarget, brokerUrls, connect } from '../shared/connection.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { processResults, type Results } from './process-results.ts';

export interface Configuration {
  name: string;
  /** What the configuration changes (no message count: the title adds the scaled one). */
  about: string;
  /**
   * The hook for configurations on another broker, such as a quorum queue on a three-node cluster
   * (`() => process.env.CLUSTER_URL`, a node list): the broker this one runs on; when it returns
   * undefined the configuration is skipped with a note. Default: --url, else AMQP_URL.
   */
  url?: () => string | undefined;
  producer: string[];
  consumer: string[];
  /** Messages per producer worker. */
  count: number;
  workers: number;
}

/** The three nodes of lesson 07's cluster (npm run cluster -- up), in failover order. */
const courseCluster = [5673, 5674, 5675].map((port) => `amqp://guest:guest@localhost:${port}`).join(',');

/** The reference's first configuration, then one knob turned at a time. */
export const configurations: Configuration[] = [
  {
    name: 'reference',
    about: '1 producer – 1 consumer, messages of 1000 B, no batching',
    producer: [],
    consumer: [],
    count: 1000,
    workers: 1,
  },
  {
    name: 'batching',
    about: 'batches of 100 on both sides',
    producer: ['--batch', '100'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'four-workers',
    about: '4 worker threads on each side',
    producer: [],
    consumer: ['--batch', '100'],
    count: 2500,
    workers: 4,
  },
  {
    name: 'size-100B',
    about: 'messages of 100 B',
    producer: ['--size', '100'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'size-10KB',
    about: 'messages of 10 KB',
    producer: ['--size', '10240'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'classic',
    about: 'a classic queue',
    producer: ['--queue-type', 'classic'],
    consumer: ['--queue-type', 'classic', '--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'quorum',
    about: 'a quorum queue (replicated log; one node here)',
    producer: ['--queue-type', 'quorum'],
    consumer: ['--queue-type', 'quorum', '--batch', '100'],
    count: 10000,
    workers: 1,
  },
  // Replication's cost (lesson 07): the same quorum queue, one node vs three. Lesson 05's programs
  // declare it with x-queue-type only, so on the cluster it gets a member on every node; a
  // one-member quorum queue there would need x-quorum-initial-group-size, which lesson 05 does not
  // teach. The one-node side is therefore the learner's own broker (AMQP_URL, or --url): the same
  // RabbitMQ on the same machine, one node. Run the two together: run-experiment quorum-1-node quorum-3-nodes
  {
    name: 'quorum-1-node',
    about: 'a quorum queue on one node (your broker)',
    producer: ['--queue-type', 'quorum'],
    consumer: ['--queue-type', 'quorum', '--batch', '100'],
    count: 20000,
    workers: 1,
  },
  {
    name: 'quorum-3-nodes',
    about: 'a quorum queue replicated on three nodes (npm run cluster -- up)',
    // CLUSTER_URL, else the three nodes npm run cluster -- up starts; skipped when none answers.
    url: () => process.env.CLUSTER_URL ?? courseCluster,
    producer: ['--queue-type', 'quorum'],
    consumer: ['--queue-type', 'quorum', '--batch', '100'],
    count: 20000,
    workers: 1,
  },
  {
    name: 'confirm-each',
    about: 'publisher confirms: wait for each one',
    producer: ['--max-in-flight', '1'],
    consumer: ['--batch', '100'],
    count: 2000,
    workers: 1,
  },
  {
    name: 'confirm-batches',
    about: 'publisher confirms: batches of 100',
    producer: ['--batch', '100'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'confirm-streamed',
    about: 'publisher confirms: streamed, 1000 in flight',
    producer: ['--max-in-flight', '1000'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
];

export const program = defineProgram({
  name: 'run-experiment',
  summary: 'Run named producer/consumer configurations and process each into results/<name>/.',
  positionals: 'configuration',
  flags: {
    out: { type: 'string', default: 'results', description: 'the folder for the results' },
    scale: {
      type: 'number',
      min: 0.001,
      default: 1,
      description: 'multiply every configuration’s message count',
    },
    list: { type: 'boolean', default: false, description: 'list the configurations and exit' },
    url: {
      type: 'string',
      description:
        'the broker, passed to the programs in AMQP_URL, never on their command line (default AMQP_URL)',
    },
  },
  examples: [
    'npm run lesson:05 -- run-experiment',
    'npm run lesson:05 -- run-experiment reference confirm-each',
    'npm run lesson:05 -- run-experiment --scale 0.1',
  ],
});

/**
 * Starts a program in its own process group, so a Ctrl+C in the terminal reaches only this
 * process, which then sends each child exactly one SIGINT (a second would make it skip its final
 * acks, confirm waits and CSV flush). The broker URL goes in the environment: a password on a
 * command line is visible to every user in `ps`.
 */
function start(
  program: string,
  args: string[],
  url: string,
  stdoutFile: string,
  signal: AbortSignal,
  onLine: () => void,
) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, '05-performance', `${program}.ts`), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, AMQP_URL: url },
    },
  );
  const stop = () => child.kill('SIGINT');
  signal.addEventListener('abort', stop, { once: true });
  // A second Ctrl+C ends this process at once (process.exit), and the children, in their own group,
  // would run on unseen: they get a SIGTERM, their second interrupt, and end at once as well.
  const orphaned = () => child.kill('SIGTERM');
  process.once('exit', orphaned);
  const file = createWriteStream(stdoutFile);
  const written = once(file, 'close'); // listened for now: it may close before the child's 'close'
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) onLine();
  });
  child.stdout.pipe(file);
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = (async () => {
    const [code] = (await once(child, 'close')) as [number | null];
    signal.removeEventListener('abort', stop);
    process.off('exit', orphaned);
    await written.catch(() => {});
    if (code !== 0 && !(code === 130 && signal.aborted)) {
      const sentence =
        stderr
          .trim()
          .split('\n')
          .filter((line) => !/^\s*\[/.test(line))
          .pop() ?? `exit code ${code}`;
      throw new CourseError(`The ${program} stopped (exit ${code}): ${sentence}`, { code: 'RUN_FAILED' });
    }
    return stderr;
  })();
  return { child, done };
}

export async function runExperiment(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
): Promise<Record<string, Results>> {
  if (options.list) {
    for (const c of configurations)
      log.info(`${c.name.padEnd(18)}${c.about} (${c.workers} × ${c.count} messages)`);
    return {};
  }
  const unknown = options.positionals.filter((name) => !configurations.some((c) => c.name === name));
  if (unknown.length) throw new UsageError(`There is no configuration '${unknown[0]}': see --list.`);
  const chosen = options.positionals.length
    ? configurations.filter((c) => options.positionals.includes(c.name))
    : configurations;
  const learners = brokerTarget(options.url);
  const defaultUrl = learners.urls.join(',');
  // The learner's broker, tried once before any child starts: a wrong password or port is then one
  // sentence naming the setting it came from (--url or AMQP_URL); a child only ever sees AMQP_URL.
  if (chosen.some((c) => !c.url)) await (await connect({ ...learners, timeoutSeconds: 5 })).close();
  const total = chosen.reduce(
    (sum, c) => sum + Math.max(1, Math.round(c.count * options.scale)) * c.workers,
    0,
  );
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {percentage}% | {value}/{total} messages | {name}',
      stream: process.stderr,
      noTTYOutput: false,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { name: chosen[0]?.name ?? '' });
  const all: Record<string, Results> = {};
  try {
    for (const c of chosen) {
      if (signal.aborted) break;
      const url = c.url ? c.url() : defaultUrl;
      if (!url) {
        log.warn(`Skipping ${c.name}: its broker is not configured.`);
        continue;
      }
      // A configuration on another broker (the cluster) is optional: skipped when it is not up.
      if (c.url && !(await answers(url))) {
        log.warn(
          `Skipping ${c.name}: no node of its broker answers (for the cluster: npm run cluster -- up).`,
        );
        continue;
      }
      const dir = join(options.out, c.name);
      await mkdir(dir, { recursive: true });
      const queue = `perf-${c.name}-${process.pid}`;
      const count = Math.max(1, Math.round(c.count * options.scale));
      bar.update({ name: c.name });
      const consumer = start(
        'consumer',
        [
          '--queue',
          queue,
          '--workers',
          String(c.workers),
          '--count',
          String(count * c.workers),
          ...c.consumer,
        ],
        url,
        join(dir, 'consumer.csv'),
        signal,
        () => bar.increment(),
      );
      const producer = start(
        'producer',
        [
          '--queue',
          queue,
          '--workers',
          String(c.workers),
          '--count',
          String(count),
          '--run-id',
          c.name,
          ...c.producer,
        ],
        url,
        join(dir, 'producer.csv'),
        signal,
        () => {},
      );
      const title = `${c.name}: ${c.about} (${c.workers > 1 ? `${c.workers} × ` : ''}${count} messages)`;
      try {
        const [producerLog, consumerLog] = await Promise.all([producer.done, consumer.done]);
        await writeFile(join(dir, 'run.log'), `${title}\n${producerLog}${consumerLog}`);
      } finally {
        await deleteQueue(url, queue);
      }
      if (signal.aborted) break;
      all[c.name] = await processResults({
        producer: [join(dir, 'producer.csv')],
        consumer: [join(dir, 'consumer.csv')],
        out: dir,
        title,
      });
    }
  } finally {
    bar.stop();
  }
  const table = summaryTable(
    chosen.filter((c) => all[c.name]),
    all,
  );
  await mkdir(options.out, { recursive: true }); // every configuration may have been skipped
  await writeFile(join(options.out, 'summary.md'), `${table}\n`);
  log.info(`\n${table}\n`);
  log.success(
    ` [✓] ${Object.keys(all).length} configurations; reports in ${options.out}/<name>/report.html, the table in ${options.out}/summary.md`,
  );
  return all;
}

/** True when some node of `url` accepts a connection. */
async function answers(url: string): Promise<boolean> {
  try {
    await (await connect({ urls: brokerUrls(url), timeoutSeconds: 5 })).close();
    return true;
  } catch {
    return false;
  }
}

/** Deletes the run's queue on the broker the run used (not necessarily AMQP_URL's). */
async function deleteQueue(url: string, queue: string) {
  const broker = await connect({ urls: brokerUrls(url) });
  try {
    const channel = await broker.channel();
    await channel.deleteQueue(queue);
  } catch {
    // already gone
  } finally {
    await broker.close();
  }
}

export function summaryTable(chosen: Configuration[], all: Record<string, Results>): string {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');
  return [
    '| configuration | messages | producer msg/s | consumer msg/s | send p50 ms | send p99 ms | latency p50 ms | latency p99 ms | missing | duplicates |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...chosen.map((c) => {
      const r = all[c.name]!;
      return `| ${c.name} — ${c.about} | ${r.produced} | ${f(r.throughput.producer, 0)} | ${f(r.throughput.consumer, 0)} | ${f(r.send.p50)} | ${f(r.send.p99)} | ${f(r.latency.p50)} | ${f(r.latency.p99)} | ${r.missing} | ${r.duplicates.producer + r.duplicates.consumer} |`;
    }),
  ].join('\n');
}

runMain(import.meta, program, runExperiment);
