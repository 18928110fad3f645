// Run experiment: runs named configurations of producer and consumer against one broker, with a
// progress bar, and processes each into results/<name>/ (latency.csv, summary.csv, report.html).
// The configurations are in configurations.ts; each child is started by supervisor.ts.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { brokerTarget, brokerUrls, connect } from '../shared/connection.ts';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { type Configuration, configurations } from './configurations.ts';
import { processResults, type Results } from './process-results.ts';
import { startChild } from './supervisor.ts';

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
      const consumer = startChild(
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
      const producer = startChild(
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
  const connection = await connect({ urls: brokerUrls(url) });
  try {
    const channel = await connection.channel();
    await channel.deleteQueue(queue);
  } catch {
    // already gone
  } finally {
    await connection.close();
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
