// The jobs table for lesson 06's programs: connect, and apply schema.sql once, however many start at once.
import { readFileSync } from 'node:fs';
import { connectDatabase } from '../shared/postgres.ts';

const schemaSql = readFileSync(new URL('./schema.sql', import.meta.url), 'utf8');

export const databaseFlags = {
  schema: { type: 'string', description: 'the PostgreSQL schema holding the jobs table (default: public)' },
} as const;

export async function openJobs(options: { schema?: string | undefined; name: string }) {
  const client = await connectDatabase({ schema: options.schema, name: options.name });
  try {
    await client.query('BEGIN');
    // Five publishers starting together would race on CREATE TABLE IF NOT EXISTS; one at a time.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('rabbitmq-course-jobs-schema'))");
    if (options.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    await client.query(schemaSql);
    await client.query('COMMIT');
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return client;
}
