// Failures any service's socket or URL can meet, keyed on Node's errno codes (ECONNREFUSED,
// ENOTFOUND…) and said in the words of the service the program was talking to.
import type { Facts, Rows } from '../errors.ts';
import { encodingHint } from '../secrets.ts';

interface Coded {
  code?: unknown;
  errors?: unknown[];
  cause?: unknown;
}

/** Node's errno code: on the error, on one part of an AggregateError (happy eyeballs), or on fetch's cause. */
export function errnoOf(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 3) return undefined;
  const { code, errors, cause } = error as Coded;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  if (typeof code === 'string' && code.startsWith('ERR_INVALID_URL')) return code;
  return [...(errors ?? []), cause].map((part) => errnoOf(part, depth + 1)).find(Boolean);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const unreachable = (facts: Facts, why: string) =>
  `${capitalise(facts.service)}${facts.where} did not answer in time (${why}): check that the host and port are right and that nothing blocks them.`;

export const network: Rows = {
  keys: (error) => {
    const errno = errnoOf(error);
    return errno ? [`errno:${errno}`] : [];
  },
  rows: {
    'errno:ECONNREFUSED': {
      code: 'CONNECTION_REFUSED',
      say: (f) => `Could not connect to ${f.service}${f.where} (connection refused): ${f.hint}.`,
    },
    'errno:ENOTFOUND': {
      code: 'HOST_NOT_FOUND',
      say: (f) =>
        `The host in the URL for ${f.service}${f.where} was not found: check the host name in ${f.setting}, or use localhost.`,
    },
    'errno:EAI_AGAIN': {
      code: 'HOST_NOT_FOUND',
      say: (f) =>
        `The host in the URL for ${f.service}${f.where} could not be looked up (DNS did not answer): check the host name in ${f.setting}, or use localhost.`,
    },
    'errno:ETIMEDOUT': { code: 'TIMEOUT', say: (f) => unreachable(f, 'ETIMEDOUT') },
    'errno:EHOSTUNREACH': { code: 'TIMEOUT', say: (f) => unreachable(f, 'EHOSTUNREACH') },
    'errno:ENETUNREACH': { code: 'TIMEOUT', say: (f) => unreachable(f, 'ENETUNREACH') },
    'errno:ECONNRESET': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `${capitalise(f.service)}${f.where} dropped the connection (ECONNRESET): is it still running, and is this its port? Run the program again once it answers.`,
    },
    'errno:EPIPE': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `${capitalise(f.service)}${f.where} closed the connection while the program was writing (EPIPE): run the program again once it answers.`,
    },
    'errno:ERR_SSL_WRONG_VERSION_NUMBER': {
      code: 'NOT_TLS',
      say: (f) =>
        `${capitalise(f.service)}${f.where} did not answer in TLS (the URL's scheme asks for it, the port does not speak it): use the plain scheme (amqp://, mqtt://) for this port, or the service's TLS port (RabbitMQ's is 5671).`,
    },
    'errno:ERR_INVALID_URL': {
      code: 'BAD_URL',
      say: (f) =>
        `${f.setting} is not a URL ${f.service} can use${f.where ? ` (${f.where.slice(4)})` : ''}: write it as scheme://host:port, with user:password@ before the host, and ${encodingHint}.`,
    },
  },
};
