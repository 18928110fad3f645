// Turns what a learner can cause into one sentence that says what happened and what to do.
// Programs throw or reject as usual; runMain (program.ts) passes whatever escapes through explain().
// Each service has one explainer whose rows are keyed on the codes its errors carry (AMQP reply
// codes in errors/amqp.ts, the management API's HTTP statuses in errors/management.ts; lesson 06
// holds PostgreSQL's and MQTT's); Node's errno codes, which any service's socket can fail with,
// are errors/network.ts, said in the words of the service the program was talking to.
import { rabbitmq } from './errors/amqp.ts';
import { network } from './errors/network.ts';
import { maskSecrets, maskUrl } from './secrets.ts';

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

/** What a row's sentence may use. Every text in here is already masked. */
export interface Facts {
  /** How the sentence names the service: RabbitMQ, PostgreSQL, the MQTT broker… */
  service: string;
  /** ` at amqp://guest:***@host`, or '' when the URL is not known. */
  where: string;
  /** The unmasked URL, for rows that read its user or vhost (never print it whole). */
  url?: string;
  /** Where the URL came from: AMQP_URL, DATABASE_URL… or a flag (--url). */
  setting: string;
  /** What to check when the service does not answer (is it running, which setting names it). */
  hint: string;
  /** The error's own message. */
  message: string;
  /** The peer's own words where it sent some (AMQP reply text), else the message. */
  detail: string;
  /** The key that chose the row. */
  key: string;
  /** How long the program waited for an answer, for rows that say so. */
  timeoutSeconds?: number;
  /** The user the program logged in as, for rows that say so. */
  user?: string;
}

export interface Rule {
  /** The CourseError's stable code. */
  code: string;
  exitCode?: number;
  say(facts: Facts): string;
}

/** Rows keyed on the codes an error carries. */
export interface Rows {
  /** The keys an error carries, most specific first; none for an error these rows do not know. */
  keys(error: unknown): string[];
  /** The peer's own words in the error, when not its whole message. */
  detail?(error: unknown): string | undefined;
  rows: Record<string, Rule>;
}

/** One service's sentences: its rows, and what the network's rows say about it. */
export interface Explainer extends Rows {
  /** How sentences name it: 'RabbitMQ', 'PostgreSQL', 'the MQTT broker'. */
  service: string;
  /** The setting that holds its URL. */
  setting: string;
  /** What to check when it does not answer. */
  hint: string;
}

export interface ErrorContext {
  /** The service the program was talking to: only its rows (then the network's) are read. */
  service?: Explainer;
  /** The URL we were talking to; always masked before it is printed. */
  url?: string;
  /** Where that URL came from, when not the service's variable (a program's --url flag). */
  setting?: string;
  /** How long the program waited for an answer, for rows that say so. */
  timeoutSeconds?: number;
  /** The user the program logged in as (never a password). */
  user?: string;
}

/**
 * Always returns a CourseError whose message is one sentence with no password in it. With a
 * service in the context, that service's rows, then the network's; without one (an error that
 * reached runMain), the first of `explainers` that knows the error (the program's own services,
 * RabbitMQ unless it says otherwise), then the network's: in that service's words when the program
 * has one, else naming each of them, since nothing says which one the socket belonged to.
 */
export function explain(
  error: unknown,
  context: ErrorContext = {},
  explainers: readonly Explainer[] = [rabbitmq],
): CourseError {
  if (error instanceof CourseError) return error;
  const message = maskSecrets(String((error as { message?: unknown } | undefined)?.message ?? error));
  const candidates = context.service ? [context.service] : explainers;
  for (const service of candidates) {
    const explained = sentence(service, service, error, message, context);
    if (explained) return explained;
  }
  const service = candidates.length > 1 ? anyOf(candidates) : (candidates[0] ?? rabbitmq);
  const explained = sentence(network, service, error, message, context);
  if (explained) return explained;
  const during = context.service ? ` with ${service.service}${where(context)}` : '';
  return new CourseError(
    `Something unexpected went wrong${during} (${message.replace(/\.$/, '')}): run again with --debug for the details.`,
    { code: 'UNEXPECTED', cause: error },
  );
}

/** Several services in one sentence: "PostgreSQL or the MQTT broker", each one's setting named. */
function anyOf(services: readonly Explainer[]): Explainer {
  const settings = services.map((s) => s.setting).join(' and ');
  return {
    service: services.map((s) => s.service).join(' or '),
    setting: services.map((s) => s.setting).join(' or '),
    hint: `start them with \`npm run services\`, or check ${settings}`,
    keys: () => [],
    rows: {},
  };
}

const where = (context: ErrorContext) => (context.url ? ` at ${maskUrl(context.url)}` : '');

/** The sentence of the first of `rows` that one of the error's keys chooses, in `service`'s words. */
function sentence(
  rows: Rows,
  service: Explainer,
  error: unknown,
  message: string,
  context: ErrorContext,
): CourseError | undefined {
  for (const key of rows.keys(error)) {
    const rule = rows.rows[key];
    if (!rule) continue;
    const facts: Facts = {
      service: service.service,
      setting: context.setting ?? service.setting,
      hint: service.hint,
      where: where(context),
      message,
      detail: maskSecrets(rows.detail?.(error) ?? message),
      key,
      ...(context.url ? { url: context.url } : {}),
      ...(context.timeoutSeconds !== undefined ? { timeoutSeconds: context.timeoutSeconds } : {}),
      ...(context.user ? { user: context.user } : {}),
    };
    return new CourseError(rule.say(facts), {
      code: rule.code,
      cause: error,
      ...(rule.exitCode ? { exitCode: rule.exitCode } : {}),
    });
  }
  return undefined;
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
