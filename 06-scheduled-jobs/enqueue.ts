// Enqueue: inserts jobs to fire at a time, in bulk (the rows are generated inside PostgreSQL).
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { explain, UsageError } from '../shared/errors.ts';
import { databaseFlags, openJobs } from './jobs.ts';

export const program = defineProgram({
  name: 'enqueue',
  summary: 'Insert jobs into the jobs table, to fire now, in N seconds, or at a time, optionally spread out.',
  flags: {
    count: { type: 'integer', min: 1, max: 100_000_000, default: 1000, description: 'how many jobs' },
    topic: {
      type: 'string',
      default: 'job/test/topic',
      description: 'the MQTT topic each job is published to',
    },
    in: { type: 'number', min: 0, description: 'fire in this many seconds (default: now)' },
    at: { type: 'string', description: 'fire at this time (ISO 8601, e.g. 2026-11-22T18:00:00Z)' },
    spread: {
      type: 'number',
      min: 0,
      default: 0,
      description: 'spread the fire times evenly over this many seconds',
    },
    ...databaseFlags,
  },
  examples: [
    'npm run lesson:06 -- enqueue --count 20000',
    'npm run lesson:06 -- enqueue --count 600 --in 10 --spread 60',
  ],
});

export async function enqueue(
  options: Values<typeof program.flags>,
  { log }: Pick<RunContext, 'log'>,
): Promise<number> {
  if (options.in !== undefined && options.at !== undefined)
    throw new UsageError('Give --in or --at, not both.');
  const at = options.at === undefined ? undefined : new Date(options.at);
  if (at && Number.isNaN(at.getTime()))
    throw new UsageError(`--at must be a time such as 2026-11-22T18:00:00Z, not '${options.at}'.`);
  const start = at ?? new Date(Date.now() + (options.in ?? 0) * 1000);
  const client = await openJobs({ schema: options.schema, name: 'lesson 06 enqueue' });
  try {
    const started = performance.now();
    // One statement: PostgreSQL makes the rows itself, so 100,000 jobs take about a second.
    const { rowCount } = await client.query(
      `INSERT INTO jobs (topic, payload, fire_at)
       SELECT $1, json_build_object('job', n)::text, $2::timestamptz + (n - 1) * ($3::float8 / $4) * interval '1 second'
       FROM generate_series(1, $4::int) AS n`,
      [options.topic, start.toISOString(), options.spread, options.count],
    );
    const seconds = (performance.now() - started) / 1000;
    log.success(
      ` [✓] enqueued ${rowCount} jobs for ${options.topic}, firing ${options.spread ? `from ${start.toISOString()} over ${options.spread} s` : `at ${start.toISOString()}`}, in ${seconds.toFixed(2)} s`,
    );
    return rowCount ?? 0;
  } catch (error) {
    throw explain(error, { service: 'PostgreSQL' });
  } finally {
    await client.end();
  }
}

runMain(import.meta, program, enqueue);
