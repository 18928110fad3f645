// PostgreSQL for lesson 06: one client, errors as sentences, the URL never printed with its password.
import pg from 'pg';
import { settings } from '../shared/config.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import { maskUrl } from '../shared/secrets.ts';
import { explainPostgresError, postgres } from './postgres-errors.ts';

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
    throw explainPostgresError(error, url);
  }
  // Without a listener an 'error' (the server going away) would crash the process with a stack.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw hungUpBeforeHandshake(error) ? notPostgres(error, url) : explainPostgresError(error, url);
  }
  return client;
}

/** The server took the TCP connection, then closed it without a word of PostgreSQL's protocol. */
function hungUpBeforeHandshake(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  return code === 'ECONNRESET' || postgres.keys(error).includes('pg:connection-gone');
}

/** What that usually means: DATABASE_URL names another service's port (RabbitMQ's, Mosquitto's). */
function notPostgres(error: unknown, url: string): CourseError {
  return new CourseError(
    `The server at ${maskUrl(url)} closed the connection before answering PostgreSQL's handshake: is that a PostgreSQL port (5432 is PostgreSQL's; 5672 is RabbitMQ's AMQP, 1883 MQTT)? Point DATABASE_URL at your PostgreSQL, e.g. postgres://postgres@localhost:5432/postgres, or start it with npm run services.`,
    { code: 'NOT_POSTGRES', cause: error },
  );
}
