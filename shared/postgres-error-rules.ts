// PostgreSQL's failures as sentences, keyed on the SQLSTATE code pg puts on its errors.
import type { RuleTable } from './errors.ts';
import { encodingHint } from './secrets.ts';

interface PgError {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
}

function keys(error: unknown): string[] {
  if (!error || typeof error !== 'object') return [];
  const { code, message } = error as PgError;
  // SQLSTATE: five characters, digits and upper-case letters (28P01, 3D000…).
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return [`sqlstate:${code}`];
  // pg's own errors, raised before or after the server spoke, carry no code.
  const text = String(message ?? '');
  if (/^Connection terminated/.test(text)) return ['pg:terminated'];
  if (/^(Invalid URL|invalid connection string)/i.test(text)) return ['pg:bad-url'];
  return [];
}

export const postgresRules: RuleTable = {
  keys,
  rules: {
    'sqlstate:3D000': {
      code: 'UNKNOWN_DATABASE',
      say: (f) =>
        `PostgreSQL${f.where} has no such database (${f.detail}): create it (createdb <name>) or fix the database name at the end of DATABASE_URL.`,
    },
    'sqlstate:28P01': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `PostgreSQL${f.where} refused the login (${f.detail}): check the user and password in DATABASE_URL, and pg_hba.conf.`,
    },
    'sqlstate:28000': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `PostgreSQL${f.where} refused the login (${f.detail}): check the user and password in DATABASE_URL, and pg_hba.conf.`,
    },
    'sqlstate:42703': {
      code: 'SCHEMA_MISMATCH',
      say: (f) =>
        `PostgreSQL${f.where} has a table that does not match what this program expects (${f.detail}): it was made by something else; drop it, or use another schema with --schema.`,
    },
    'sqlstate:42P01': {
      code: 'SCHEMA_MISMATCH',
      say: (f) =>
        `PostgreSQL${f.where} has a table that does not match what this program expects (${f.detail}): it was made by something else; drop it, or use another schema with --schema.`,
    },
    'sqlstate:57P01': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `PostgreSQL${f.where} is shutting down (${f.detail}): wait for it to come back, or run npm run services.`,
    },
    'sqlstate:57P03': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `PostgreSQL${f.where} is starting up (${f.detail}): wait a moment and run the program again.`,
    },
    'pg:terminated': {
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
