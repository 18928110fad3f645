// What PostgreSQL can do to a running program, as one sentence naming PostgreSQL. The rules that
// need only SQLSTATE codes a connection or login meets stay in errors.ts; these are the ones a
// program meets mid-run (a backend terminated, a permission missing).

import { CourseError, explain } from '../shared/errors.ts';
import { maskUrl } from '../shared/secrets.ts';

interface PgishError {
  message?: string;
  code?: string;
}

export function explainPostgresError(error: unknown, url: string): CourseError {
  if (error instanceof CourseError) return error;
  const err = (error ?? {}) as PgishError;
  const message = String(err.message ?? error);
  const where = ` at ${maskUrl(url)}`;
  const make = (code: string, sentence: string) => new CourseError(sentence, { code, cause: error });
  switch (err.code) {
    case '57P01':
    case '57P02':
      return make(
        'CLOSED_BY_BROKER',
        `PostgreSQL${where} ended this program's connection (${message}): an administrator or pg_terminate_backend did it, or the server is stopping; run the program again once it is up (npm run services).`,
      );
    case '42501':
      return make(
        'ACCESS_REFUSED',
        `PostgreSQL${where} refused the user in DATABASE_URL (${message}): grant it the rights this program needs, or use a user that has them.`,
      );
  }
  if (/Connection terminated|Client has encountered a connection error|not queryable/i.test(message)) {
    return make(
      'CLOSED_BY_BROKER',
      `PostgreSQL${where} closed the connection (${message}): is it still running? npm run services starts it.`,
    );
  }
  return explain(error, { service: 'PostgreSQL', url });
}

/** True when the connection itself is gone (so reconnecting may help), not when a statement failed. */
export function connectionLost(error: unknown): boolean {
  // Our sentences keep pg's error as their cause: judge by that.
  const err = ((error instanceof CourseError && error.cause) || error || {}) as PgishError;
  return (
    err.code === '57P01' ||
    err.code === '57P02' ||
    err.code === '57P03' ||
    err.code === 'ECONNRESET' ||
    err.code === 'ECONNREFUSED' ||
    /Connection terminated|connection error|not queryable/i.test(String(err.message))
  );
}
