// Turns what a learner can cause into one sentence that says what happened and what to do.
// Programs throw or reject as usual; runMain (program.ts) passes whatever escapes through explain().
// The sentences live in tables keyed on codes, never on words in a message: Node's errno codes and
// the management API's HTTP statuses here, one table per service beside it (AMQP reply codes in
// amqp-error-rules.ts, SQLSTATE in postgres-error-rules.ts, MQTT reason codes in mqtt-error-rules.ts).
import { amqpRules } from './amqp-error-rules.ts';
import { mqttRules } from './mqtt-error-rules.ts';
import { postgresRules } from './postgres-error-rules.ts';
import { encodingHint, maskSecrets, maskUrl } from './secrets.ts';

export interface CourseErrorOptions {
  /** A stable name for the failure, for tests and for the checks' hints. */
  code: string;
  /** 1 for failures, 2 for bad usage (flags), 130 for Ctrl+C. */
  exitCode?: number;
  cause?: unknown;
}

export class CourseError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(message: string, options: CourseErrorOptions) {
    super(maskSecrets(message), { cause: options.cause });
    this.name = 'CourseError';
    this.code = options.code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A bad flag or argument: exit code 2, like every Unix tool. */
export class UsageError extends CourseError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'USAGE', exitCode: 2, cause });
    this.name = 'UsageError';
  }
}

export type Service = 'RabbitMQ' | 'the RabbitMQ management API' | 'PostgreSQL' | 'the MQTT broker';

export interface ErrorContext {
  service?: Service;
  /** The URL we were talking to; always masked before it is printed. */
  url?: string;
  /** Where that URL came from, when not the service's variable (a program's --url flag). */
  setting?: string;
}

/** What a row's sentence may use. Every text in here is already masked. */
export interface Facts {
  service: Service;
  /** ` at amqp://guest:***@host`, or '' when the URL is not known. */
  where: string;
  /** The unmasked URL, for rows that read its user or vhost (never print it whole). */
  url?: string;
  /** Where the URL came from: AMQP_URL, DATABASE_URL… or a flag (--url). */
  setting: string;
  /** The error's own message. */
  message: string;
  /** The peer's own words where it sent some (AMQP reply text, PostgreSQL's message). */
  detail: string;
  /** The key that chose the row. */
  key: string;
}

export interface Rule {
  /** The CourseError's stable code. */
  code: string;
  exitCode?: number;
  say(facts: Facts): string;
}

/** One service's rows: the keys an error carries (most specific first) and a sentence for each. */
export interface RuleTable {
  keys(error: unknown): string[];
  detail?(error: unknown): string | undefined;
  rules: Record<string, Rule>;
}

/** What each service's failures ask the learner to check, for the rows every service shares. */
export const servicesHint: Record<Service, string> = {
  RabbitMQ: 'is the broker running? Start it with `npm run services`, or point AMQP_URL at your broker',
  'the RabbitMQ management API':
    'is the management plugin enabled? `npm run services` enables it; or set RABBITMQ_MANAGEMENT_URL',
  PostgreSQL:
    'is PostgreSQL running? Start it with `npm run services`, or point DATABASE_URL at your database',
  'the MQTT broker':
    'is Mosquitto running? Start it with `npm run services`, or point MQTT_URL at your MQTT broker',
};

/** The setting that holds each service's URL. */
export const urlSetting: Record<Service, string> = {
  RabbitMQ: 'AMQP_URL',
  'the RabbitMQ management API': 'RABBITMQ_MANAGEMENT_URL',
  PostgreSQL: 'DATABASE_URL',
  'the MQTT broker': 'MQTT_URL',
};

export function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

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

const unreachable = (facts: Facts, why: string) =>
  `${capitalise(facts.service)}${facts.where} did not answer in time (${why}): check that the host and port are right and that nothing blocks them.`;

/** The failures every service shares: the network and the URL. */
export const networkRules: RuleTable = {
  keys: (error) => {
    const errno = errnoOf(error);
    return errno ? [`errno:${errno}`] : [];
  },
  rules: {
    'errno:ECONNREFUSED': {
      code: 'CONNECTION_REFUSED',
      say: (f) =>
        `Could not connect to ${f.service}${f.where} (connection refused): ${servicesHint[f.service]}.`,
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

/**
 * The management API's HTTP answers, keyed on the status a caller puts on its error
 * (`Object.assign(new Error(…), { status: response.status })`).
 */
export const managementRules: RuleTable = {
  keys: (error) => {
    const status = (error as { status?: unknown } | undefined)?.status;
    return typeof status === 'number' ? [`http:${status}`, 'http:any'] : [];
  },
  rules: {
    'http:401': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `The RabbitMQ management API${f.where} refused the login (401): check the user and password in RABBITMQ_MANAGEMENT_URL (or AMQP_URL, whose credentials it uses when it has none).`,
    },
    'http:404': {
      code: 'NOT_FOUND',
      say: (f) =>
        `The RabbitMQ management API${f.where} answered 404 (${f.message}): check that RABBITMQ_MANAGEMENT_URL is the management plugin's address (http://localhost:15672), and the vhost or queue name.`,
    },
    'http:any': {
      code: 'MANAGEMENT_API_ERROR',
      say: (f) =>
        `The RabbitMQ management API${f.where} answered with an error (${f.message}): check RABBITMQ_MANAGEMENT_URL, and the broker's log.`,
    },
  },
};

/**
 * The service's own table first, then the network's, then the others' (an error that escaped its
 * context). A function, not a constant: the tables import this module's types and helpers.
 */
const tables = (service: Service): RuleTable[] =>
  ({
    RabbitMQ: [amqpRules, networkRules, postgresRules, mqttRules],
    'the RabbitMQ management API': [managementRules, networkRules, amqpRules],
    PostgreSQL: [postgresRules, networkRules, amqpRules],
    'the MQTT broker': [mqttRules, networkRules, amqpRules],
  })[service];

/** Always returns a CourseError whose message is one sentence with no password in it. */
export function explain(error: unknown, context: ErrorContext = {}): CourseError {
  if (error instanceof CourseError) return error;
  const message = maskSecrets(String((error as { message?: unknown } | undefined)?.message ?? error));
  const service = context.service ?? 'RabbitMQ';
  const where = context.url ? ` at ${maskUrl(context.url)}` : '';
  for (const table of tables(service)) {
    for (const key of table.keys(error)) {
      const rule = table.rules[key];
      if (!rule) continue;
      const detail = maskSecrets(table.detail?.(error) ?? message);
      const facts: Facts = {
        service,
        setting: context.setting ?? urlSetting[service],
        where,
        message,
        detail,
        key,
        ...(context.url ? { url: context.url } : {}),
      };
      return new CourseError(rule.say(facts), {
        code: rule.code,
        cause: error,
        ...(rule.exitCode ? { exitCode: rule.exitCode } : {}),
      });
    }
  }
  const during = context.service ? ` with ${service}${where}` : '';
  return new CourseError(
    `Something unexpected went wrong${during} (${message.replace(/\.$/, '')}): run again with --debug for the details.`,
    { code: 'UNEXPECTED', cause: error },
  );
}

/** Rejects with a TIMEOUT CourseError when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CourseError(`${what} did not happen within ${ms / 1000} s.`, { code: 'TIMEOUT' })),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
