// Enqueue: inserts jobs to fire at a time, in bulk (the rows are generated inside PostgreSQL).

import { settings } from '../shared/config.ts';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { checkPayload, checkTopic, databaseFlags, maxPayloadBytes, openJobs } from './jobs.ts';
import { explainPostgresError, postgres } from './postgres-errors.ts';

export const program = defineProgram({
  name: 'enqueue',
  summary: 'Insert jobs into the jobs table, to fire now, in N seconds, or at a time, optionally spread out.',
  flags: {
    count: { type: 'integer', min: 1, max: 100_000_000, default: 1000, description: 'how many jobs' },
    topic: {
      type: 'string',
      default: 'job/test/topic',
      description: 'the MQTT topic each job is published to (no wildcards)',
    },
    payload: {
      type: 'string',
      description: `what each job carries, at most ${maxPayloadBytes / 1024} KiB (default: {"job":N}, N counting from 1)`,
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
    `npm run lesson:06 -- enqueue --count 1 --topic job/valve-7 --payload '{"close":true}'`,
  ],
});

type Options = Values<typeof program.flags>;

/** The last moment a job may fire: PostgreSQL goes further, but no schedule needs to. */
const latest = Date.UTC(9999, 11, 31, 23, 59, 59);

/** When the first job fires: now, in N seconds, or at a given time; the last stays within 1970–9999. */
function firstFireTime(options: Options): Date {
  if (options.in !== undefined && options.at !== undefined)
    throw new UsageError('Give --in or --at, not both.');
  const at =
    options.at === undefined ? new Date(Date.now() + (options.in ?? 0) * 1000) : new Date(options.at);
  if (options.at !== undefined && Number.isNaN(at.getTime()))
    throw new UsageError(`--at must be a time such as 2026-11-22T18:00:00Z, not '${options.at}'.`);
  const last = at.getTime() + options.spread * 1000;
  if (!(at.getTime() >= 0 && last <= latest)) {
    throw new UsageError(
      'With these --in, --at and --spread the jobs would fire outside the years 1970 to 9999: give times within them, such as --in 60 --spread 600.',
    );
  }
  return at;
}

export async function enqueue(options: Options, { log }: Pick<RunContext, 'log'>): Promise<number> {
  // A bad topic or payload is refused here: in the table it would fail at the broker, every time.
  checkTopic(options.topic);
  checkPayload(options.payload);
  const start = firstFireTime(options);
  const client = await openJobs({ schema: options.schema, name: 'lesson 06 enqueue' });
  try {
    const started = performance.now();
    // One statement: PostgreSQL makes the rows itself, so 100,000 jobs take about a second.
    const { rowCount } = await client.query(
      `INSERT INTO jobs (topic, payload, fire_at)
       SELECT $1, coalesce($5, json_build_object('job', n)::text),
              $2::timestamptz + (n - 1) * ($3::float8 / $4) * interval '1 second'
       FROM generate_series(1, $4::int) AS n`,
      [options.topic, start.toISOString(), options.spread, options.count, options.payload ?? null],
    );
    const seconds = (performance.now() - started) / 1000;
    const when = options.spread
      ? `from ${start.toISOString()} over ${options.spread} s`
      : `at ${start.toISOString()}`;
    log.success(
      ` [✓] enqueued ${rowCount} jobs for ${options.topic}, firing ${when}, in ${seconds.toFixed(2)} s`,
    );
    return rowCount ?? 0;
  } catch (error) {
    throw explainPostgresError(error, settings().databaseUrl);
  } finally {
    await client.end();
  }
}

runMain(import.meta, program, enqueue, [postgres]);
