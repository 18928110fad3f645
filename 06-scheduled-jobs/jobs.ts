// The jobs table for lesson 06's programs: connect, create the table when it is missing (once,
// however many programs start at once), and the rules a job's topic and payload must follow.
import { readFileSync } from 'node:fs';
import { settings } from '../shared/config.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import { maskUrl } from '../shared/secrets.ts';
import { type Client, connectDatabase } from './postgres.ts';

const schemaSql = readFileSync(new URL('./schema.sql', import.meta.url), 'utf8');

export const databaseFlags = {
  schema: { type: 'string', description: 'the PostgreSQL schema holding the jobs table (default: public)' },
} as const;

export async function openJobs(options: { schema?: string | undefined; name: string }): Promise<Client> {
  const client = await connectDatabase({ schema: options.schema, name: options.name });
  try {
    if (!(await tableIsCurrent(client))) await createTable(client, options.schema);
  } catch (error) {
    await client.end().catch(() => {});
    throw cannotCreate(error);
  }
  return client;
}

/** A user who may read and write the table but not create tables can still run the programs. */
async function tableIsCurrent(client: Client): Promise<boolean> {
  const { rows } = await client.query(
    `SELECT 1 FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = 'jobs' AND column_name = 'failure'`,
  );
  return rows.length > 0;
}

async function createTable(client: Client, schema: string | undefined): Promise<void> {
  await client.query('BEGIN');
  try {
    // Five publishers starting together would race on CREATE TABLE IF NOT EXISTS; one at a time.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('rabbitmq-course-jobs-schema'))");
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(schemaSql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

function cannotCreate(error: unknown): unknown {
  const err = error as { code?: string; message?: string };
  if (err.code !== '42501') return error;
  return new CourseError(
    `The jobs table is missing (or older than this lesson) in the database at ${maskUrl(settings().databaseUrl)}, and its user may not create it (${err.message}): run 06-scheduled-jobs/schema.sql there as the database's owner (psql -f), or point DATABASE_URL at a database where you may create tables.`,
    { code: 'ACCESS_REFUSED', cause: error },
  );
}

/** A job is a command for a device, not a file transfer: the lesson's limit on a payload. */
export const maxPayloadBytes = 64 * 1024;
/** MQTT encodes a topic's length in two bytes. */
const maxTopicBytes = 65_535;

/** Refuses, with one sentence, a topic no MQTT broker would accept for a PUBLISH. */
export function checkTopic(topic: string): void {
  const shown = topic.length > 40 ? `${topic.slice(0, 40)}…` : topic;
  const problem =
    topic === ''
      ? 'is empty'
      : /[+#]/.test(topic)
        ? `contains the wildcard '${/[+#]/.exec(topic)![0]}', which only a subscription may use`
        : topic.startsWith('$')
          ? 'starts with $, which brokers keep for their own topics ($SYS/…)'
          : topic.includes('\u0000')
            ? 'contains a NUL character'
            : Buffer.byteLength(topic) > maxTopicBytes
              ? `is ${Buffer.byteLength(topic).toLocaleString('en')} bytes long, more than the ${maxTopicBytes.toLocaleString('en')} MQTT allows`
              : undefined;
  if (problem) {
    throw new UsageError(
      `--topic '${shown}' ${problem}: give the topic a device listens on, such as job/device-42/valve.`,
    );
  }
}

/** Refuses, with one sentence, a subscription filter no MQTT broker would accept. */
export function checkTopicFilter(filter: string): void {
  const levels = filter.split('/');
  const problem =
    filter === ''
      ? 'is empty'
      : levels.some((level, i) => level.includes('#') && (level !== '#' || i !== levels.length - 1))
        ? "uses '#' other than as the whole last level (job/#)"
        : levels.some((level) => level.includes('+') && level !== '+')
          ? "uses '+' other than as a whole level (job/+/valve)"
          : filter.includes('\u0000')
            ? 'contains a NUL character'
            : undefined;
  if (problem) {
    throw new UsageError(
      `--topic '${filter.length > 40 ? `${filter.slice(0, 40)}…` : filter}' ${problem}: give a filter such as job/# or job/+/valve.`,
    );
  }
}

export function checkPayload(payload: string | undefined): void {
  const bytes = payload === undefined ? 0 : Buffer.byteLength(payload);
  if (bytes > maxPayloadBytes) {
    throw new UsageError(
      `--payload is ${bytes.toLocaleString('en')} bytes, more than the ${maxPayloadBytes.toLocaleString('en')} a job may carry: a job is a command for a device; store big data elsewhere and send its address.`,
    );
  }
}
