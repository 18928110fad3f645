// PostgreSQL for lesson 06: one client, errors as sentences, the URL never printed with its password.
import pg from 'pg';
import { settings } from './config.ts';
import { explain, UsageError } from './errors.ts';

export type Client = pg.Client;

/** A connected client; with `schema`, every unqualified name resolves there (tests use their own). */
export async function connectDatabase(
  options: { url?: string; schema?: string; name?: string } = {},
): Promise<pg.Client> {
  const url = options.url ?? settings().databaseUrl;
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
    throw new UsageError(
      `--schema must be a plain lower-case name (letters, digits, _), not '${options.schema}'.`,
    );
  }
  let client: pg.Client;
  try {
    client = new pg.Client({
      connectionString: url,
      application_name: options.name ?? 'rabbitmq-course',
      connectionTimeoutMillis: 10_000,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
  } catch (error) {
    throw explain(error, { service: 'PostgreSQL', url });
  }
  // Without a listener an 'error' (the server going away) would crash the process with a stack.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw explain(error, { service: 'PostgreSQL', url });
  }
  return client;
}
