// PostgreSQL's failures as sentences naming PostgreSQL, keyed on the SQLSTATE code pg puts on the
// errors the server sends, and on the few errors pg raises itself.

import { errnoOf } from '../shared/errors/network.ts';
import { CourseError, type Explainer, explain } from '../shared/errors.ts';
import { encodingHint } from '../shared/secrets.ts';

interface PgError {
  code?: unknown;
  message?: unknown;
}

/**
 * pg's own errors for a connection that is gone carry no code, only these fixed messages
 * (pg/lib/client.js: 'Connection terminated unexpectedly'…), so they are matched on their words.
 */
const connectionGone =
  /^(Connection terminated|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

function keys(error: unknown): string[] {
  if (!error || typeof error !== 'object') return [];
  const { code, message } = error as PgError;
  // SQLSTATE: five characters, digits and upper-case letters (28P01, 3D000…).
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return [`sqlstate:${code}`];
  if (errnoOf(error) === 'ERR_INVALID_URL') return ['pg:bad-url'];
  if (connectionGone.test(String(message ?? ''))) return ['pg:connection-gone'];
  return [];
}

const refusedLogin = {
  code: 'ACCESS_REFUSED',
  say: (f: { where: string; detail: string }) =>
    `PostgreSQL${f.where} refused the login (${f.detail}): check the user and password in DATABASE_URL, and pg_hba.conf.`,
};
const schemaMismatch = {
  code: 'SCHEMA_MISMATCH',
  say: (f: { where: string; detail: string }) =>
    `PostgreSQL${f.where} has a table that does not match what this program expects (${f.detail}): it was made by something else; drop it, or use another schema with --schema.`,
};
const terminated = {
  code: 'CLOSED_BY_BROKER',
  say: (f: { where: string; detail: string }) =>
    `PostgreSQL${f.where} ended this program's connection (${f.detail}): an administrator or pg_terminate_backend did it, or the server is stopping; run the program again once it is up (npm run services).`,
};

export const postgres: Explainer = {
  service: 'PostgreSQL',
  setting: 'DATABASE_URL',
  hint: 'is PostgreSQL running? Start it with `npm run services`, or point DATABASE_URL at your database',
  keys,
  rows: {
    'sqlstate:3D000': {
      code: 'UNKNOWN_DATABASE',
      say: (f) =>
        `PostgreSQL${f.where} has no such database (${f.detail}): create it (createdb <name>) or fix the database name at the end of DATABASE_URL.`,
    },
    'sqlstate:28P01': refusedLogin,
    'sqlstate:28000': refusedLogin,
    'sqlstate:42501': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `PostgreSQL${f.where} refused the user in DATABASE_URL (${f.detail}): grant it the rights this program needs, or use a user that has them.`,
    },
    'sqlstate:42703': schemaMismatch,
    'sqlstate:42P01': schemaMismatch,
    'sqlstate:57P01': terminated,
    'sqlstate:57P02': terminated,
    'sqlstate:57P03': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `PostgreSQL${f.where} is starting up (${f.detail}): wait a moment and run the program again.`,
    },
    'pg:connection-gone': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `PostgreSQL${f.where} closed the connection (${f.detail}): is it still running? npm run services starts it.`,
    },
    'pg:bad-url': {
      code: 'BAD_URL',
      say: () =>
        `DATABASE_URL is not a URL PostgreSQL can use: write it as postgres://localhost:5432/database, with user:password@ before the host, and ${encodingHint}.`,
    },
  },
};

/** Always a CourseError whose one sentence names PostgreSQL at `url` and never shows a password. */
export function explainPostgresError(error: unknown, url: string): CourseError {
  return explain(error, { service: postgres, url });
}

/** The keys of a connection that is gone (so reconnecting may help), not of a statement that failed. */
const gone = new Set(['sqlstate:57P01', 'sqlstate:57P02', 'sqlstate:57P03', 'pg:connection-gone']);

/** True when the connection itself is gone (so reconnecting may help), not when a statement failed. */
export function connectionLost(error: unknown): boolean {
  // Our sentences keep pg's error as their cause: judge by that.
  const err = (error instanceof CourseError && error.cause) || error || {};
  const code = (err as PgError).code;
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || keys(err).some((key) => gone.has(key));
}
