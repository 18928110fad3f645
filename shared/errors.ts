// Turns what a learner can cause into one sentence that says what happened and what to do.
// Programs throw or reject as usual; runMain (cli.ts) passes whatever escapes through explain().
import { maskSecrets, maskUrl, urlUser, urlVhost } from './config.ts';

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
}

const servicesHint: Record<Service, string> = {
  RabbitMQ: 'is the broker running? Start it with `npm run services`, or point AMQP_URL at your broker',
  'the RabbitMQ management API':
    'is the management plugin enabled? `npm run services` enables it; or set RABBITMQ_MANAGEMENT_URL',
  PostgreSQL:
    'is PostgreSQL running? Start it with `npm run services`, or point DATABASE_URL at your database',
  'the MQTT broker':
    'is Mosquitto running? Start it with `npm run services`, or point MQTT_URL at your MQTT broker',
};

interface NodeishError {
  message?: string;
  code?: string | number;
  errors?: NodeishError[];
}

function networkCode(err: NodeishError): string | undefined {
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code) return code;
  // Node's happy-eyeballs connect reports an AggregateError whose parts carry the code.
  return err.errors?.map(networkCode).find(Boolean);
}

/** Always returns a CourseError whose message is one sentence with no password in it. */
export function explain(error: unknown, context: ErrorContext = {}): CourseError {
  if (error instanceof CourseError) return error;
  const err = (error ?? {}) as NodeishError;
  const message = String(err.message ?? error);
  const service = context.service ?? 'RabbitMQ';
  const where = context.url ? ` at ${maskUrl(context.url)}` : '';
  const make = (code: string, sentence: string) => new CourseError(sentence, { code, cause: error });

  switch (networkCode(err)) {
    case 'ECONNREFUSED':
      return make(
        'CONNECTION_REFUSED',
        `Could not connect to ${service}${where} (connection refused): ${servicesHint[service]}.`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make(
        'HOST_NOT_FOUND',
        `The host in the URL for ${service}${where} was not found: check the host name in the URL, or use localhost.`,
      );
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make(
        'TIMEOUT',
        `${capitalise(service)}${where} did not answer in time (${networkCode(err)}): check that the host and port are right and that nothing blocks them.`,
      );
  }

  if (service === 'PostgreSQL') {
    const pg = explainPostgres(err, where, message);
    if (pg) return make(pg[0], pg[1]);
  }
  if (service === 'the MQTT broker' && /Not authorized|Bad username or password/i.test(message)) {
    return make(
      'ACCESS_REFUSED',
      `The MQTT broker${where} refused the login: check the user name and password in MQTT_URL.`,
    );
  }
  if (/ACCESS.REFUSED|\b403\b/.test(message)) {
    const user = context.url ? urlUser(context.url) : undefined;
    return make(
      'ACCESS_REFUSED',
      `RabbitMQ${where} refused the login${user ? ` for user '${user}'` : ''}: check the user name and password in AMQP_URL (the guest user only works from localhost; create another user for remote access).`,
    );
  }
  if (/Expected ConnectionOpenOk|vhost .* not found|NOT_ALLOWED.*vhost/i.test(message)) {
    const vhost = context.url ? urlVhost(context.url) : 'named in AMQP_URL';
    return make(
      'UNKNOWN_VHOST',
      `RabbitMQ${where} refused the virtual host '${vhost}': it does not exist or the user may not use it; create it (rabbitmqctl add_vhost ${vhost}) or fix the path at the end of AMQP_URL.`,
    );
  }
  const inequivalent =
    /inequivalent arg '([^']+)' for queue '([^']+)'[^:]*: received (.+?) but current is (.+?)"?$/.exec(
      message,
    );
  if (inequivalent) {
    const [, arg, queue, wanted, current] = inequivalent;
    return make(
      'QUEUE_MISMATCH',
      `The queue '${queue}' already exists with other settings (${arg} is ${current}, this program asks for ${wanted}): delete it (rabbitmqctl delete_queue ${queue}, or the management UI's Queues tab) or pick another name with --queue.`,
    );
  }
  if (/PRECONDITION.FAILED/.test(message)) {
    return make(
      'PRECONDITION_FAILED',
      `RabbitMQ refused an operation (${brokerText(message)}): a queue or exchange of that name probably exists with other settings; delete it or use another name.`,
    );
  }
  if (/NOT.FOUND.*no queue '([^']+)'/.test(message)) {
    const queue = /no queue '([^']+)'/.exec(message)?.[1];
    return make(
      'QUEUE_NOT_FOUND',
      `The queue '${queue}' does not exist: start the program that declares it first, or check the --queue name.`,
    );
  }
  if (/unknown delivery tag/i.test(message)) {
    return make(
      'UNKNOWN_DELIVERY_TAG',
      `RabbitMQ closed the channel because a message was acknowledged twice or on another channel (${brokerText(message)}).`,
    );
  }
  if (/Channel closed by server|CONNECTION.FORCED|Connection closed: \d+/.test(message)) {
    return make(
      'CLOSED_BY_BROKER',
      `RabbitMQ closed the connection or channel (${brokerText(message)}): look at the broker's log or the management UI for why, then run the program again.`,
    );
  }
  if (/Channel ended|Channel closed|Connection closed|IllegalOperationError/.test(message)) {
    return make(
      'CHANNEL_CLOSED',
      `The connection to ${service} closed while the program was still using it (${message}): run the program again; if it keeps happening, look at the broker's log.`,
    );
  }
  if (/timed? ?out/i.test(message)) {
    return make('TIMEOUT', `${capitalise(service)}${where} did not answer in time (${message}).`);
  }
  return make(
    'UNEXPECTED',
    `Something unexpected went wrong: ${maskSecrets(message)}. Run again with --debug for the details.`,
  );
}

/** PostgreSQL's SQLSTATE codes for what a learner can cause. */
function explainPostgres(err: NodeishError, where: string, message: string): [string, string] | undefined {
  switch (err.code) {
    case '3D000':
      return [
        'UNKNOWN_DATABASE',
        `PostgreSQL${where} has no such database (${message}): create it (createdb <name>) or fix the database name at the end of DATABASE_URL.`,
      ];
    case '28P01':
    case '28000':
      return [
        'ACCESS_REFUSED',
        `PostgreSQL${where} refused the login (${message}): check the user and password in DATABASE_URL, and pg_hba.conf.`,
      ];
    case '42703':
    case '42P01':
      return [
        'SCHEMA_MISMATCH',
        `PostgreSQL${where} has a table that does not match what this program expects (${message}): it was made by something else; drop it, or use another schema with --schema.`,
      ];
    case '57P01':
    case '57P03':
      return [
        'CLOSED_BY_BROKER',
        `PostgreSQL${where} is shutting down or starting up (${message}): wait for it, or run npm run services.`,
      ];
  }
  if (/Invalid URL|invalid connection string/i.test(message) || err.code === 'ERR_INVALID_URL') {
    return [
      'USAGE',
      `DATABASE_URL is not a URL PostgreSQL can use (${message}): write it as postgres://user@host:5432/database.`,
    ];
  }
  if (/Connection terminated/i.test(message)) {
    return [
      'CLOSED_BY_BROKER',
      `PostgreSQL${where} closed the connection (${message}): is it still running? npm run services starts it.`,
    ];
  }
  return undefined;
}

function brokerText(message: string): string {
  // amqplib wraps the broker's words in quotes after 'with message'; those are the useful part.
  return /with message "([^"]+)"/.exec(message)?.[1] ?? message;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
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
