// A program's flags: their types, env fallbacks, ranges and --help, checked into typed values with one
// sentence (exit 2) for anything wrong. program.ts runs a program with them.
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

interface Common {
  description: string;
  /** Environment variable read when the flag is not given. */
  env?: string;
}
export type Flag =
  | (Common & { type: 'string'; default?: string; choices?: readonly string[] })
  | (Common & { type: 'integer' | 'number'; default?: number; min?: number; max?: number })
  | (Common & { type: 'boolean'; default?: boolean })
  /** Several values: `--producer a.csv b.csv` or `--producer a.csv --producer b.csv`. */
  | (Common & { type: 'strings'; default?: readonly string[] });

export type Flags = Record<string, Flag>;

type ValueOf<F extends Flag> = F extends { type: 'string' }
  ? F extends { default: string }
    ? string
    : string | undefined
  : F extends { type: 'integer' | 'number' }
    ? F extends { default: number }
      ? number
      : number | undefined
    : F extends { type: 'boolean' }
      ? F extends { default: boolean }
        ? boolean
        : boolean | undefined
      : string[];

export type Values<S extends Flags> = { -readonly [K in keyof S]: ValueOf<S[K]> } & {
  /** Arguments that are not flags. */
  positionals: string[];
  debug: boolean;
};

export interface Program<S extends Flags> {
  name: string;
  summary: string;
  flags: S;
  /** Accept arguments that are not flags (new-task's messages). */
  positionals?: string;
  examples?: string[];
}

/**
 * --queue-type for the lessons' work queues: quorum (what RabbitMQ and its tutorials recommend for
 * durable work queues) or classic (the old way). It only matters when the queue does not exist yet.
 */
export const queueTypeFlag = {
  type: 'string',
  default: 'quorum',
  choices: ['quorum', 'classic'],
  description: 'the queue type, if the queue does not exist yet (see the README)',
} as const satisfies Flag;

/** --queue: the queue a lesson program uses; QUEUE in the environment overrides the default. */
export const queueFlag = (name: string, description: string) =>
  ({ type: 'string', default: name, env: 'QUEUE', description }) as const;

/** --name: tells terminals (and log files) apart; a worker's default is its PID. */
export const nameFlag = (description: string) =>
  ({ type: 'string', default: `W${process.pid}`, description }) as const;

/** --count: stop after this many messages; without it a consumer runs until Ctrl+C. */
export const countFlag = (what: string) =>
  ({ type: 'integer', min: 1, description: `stop after this many ${what}` }) as const;

export function defineProgram<const S extends Flags>(program: Program<S>): Program<S> {
  return program;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function usage<S extends Flags>(program: Program<S>): string {
  const lines = [
    `${program.name}: ${program.summary}`,
    '',
    `Usage: ${program.name} [flags]${program.positionals ? ` [${program.positionals}…]` : ''}`,
    '',
    'Flags:',
  ];
  const rows: [string, string][] = Object.entries(program.flags).map(([key, flag]) => {
    const name = `--${kebab(key)}${flag.type === 'boolean' ? (flag.default === false ? '' : `, --no-${kebab(key)}`) : ` <${flag.type === 'strings' ? 'file…' : flag.type === 'string' ? 'text' : 'n'}>`}`;
    const extra = [
      'choices' in flag && flag.choices ? `one of ${flag.choices.join(', ')}` : '',
      flag.default !== undefined && flag.default !== false
        ? `default ${Array.isArray(flag.default) ? flag.default.join(' ') : flag.default}`
        : '',
      flag.env ? `env ${flag.env}` : '',
    ].filter(Boolean);
    return [name, `${flag.description}${extra.length ? ` (${extra.join('; ')})` : ''}`];
  });
  rows.push(['--debug', 'show debug lines, and the stack of an error'], ['--help', 'show this help']);
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  for (const [name, text] of rows) lines.push(`  ${name.padEnd(width)}${text}`);
  lines.push('', 'Environment: AMQP_URL, RABBITMQ_MANAGEMENT_URL, DATABASE_URL, MQTT_URL (see the README).');
  if (program.examples?.length) lines.push('', 'Examples:', ...program.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/** --help was given: the runner prints the message (the usage) and exits 0. */
export class HelpRequested extends Error {}

/** Parses argv into typed values; throws UsageError (exit 2) with one sentence on anything wrong. */
export function parseOptions<S extends Flags>(
  program: Program<S>,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Values<S> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    debug: { type: 'boolean' },
    help: { type: 'boolean' },
  };
  for (const [key, flag] of Object.entries(program.flags)) {
    options[kebab(key)] = {
      type: flag.type === 'boolean' ? 'boolean' : 'string',
      multiple: flag.type === 'strings',
    };
    if (flag.type === 'boolean') options[`no-${kebab(key)}`] = { type: 'boolean' };
  }
  // `--count -1` would read -1 as a flag; join it to its flag so the range check can say what is wrong.
  const takesValue = (arg: string) => arg.startsWith('--') && options[arg.slice(2)]?.type === 'string';
  const args: string[] = [];
  const negatives: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (takesValue(arg) && next !== undefined && /^-\d/.test(next)) args.push(`${arg}=${argv[++i]}`);
    // `rpc-client -5`: a negative number is an argument (for the program to refuse), not a flag.
    else if (program.positionals && /^-\d/.test(arg)) negatives.push(arg);
    else args.push(arg);
  }
  if (negatives.length) args.push('--', ...negatives);
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof options; tokens: true; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args, options, tokens: true, allowPositionals: true, strict: true });
  } catch (error) {
    const text = (error as Error).message.replace(/\. To specify a positional.*$/s, '').replace(/'/g, '');
    throw new UsageError(`${text.replace(/\.$/, '')}: see --help for the flags of ${program.name}.`, error);
  }
  const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (raw.help) throw new HelpRequested(usage(program));

  // Values after a multi-value flag belong to it: --producer a.csv b.csv
  const positionals: string[] = [];
  let lastMulti: string | undefined;
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option') lastMulti = options[token.name]?.multiple ? token.name : undefined;
    else if (token.kind === 'positional') {
      if (lastMulti) (raw[lastMulti] as string[]).push(token.value);
      else positionals.push(token.value);
    }
  }
  if (positionals.length && !program.positionals) {
    throw new UsageError(
      `${program.name} takes no arguments, only flags (got '${positionals[0]}'): see --help.`,
    );
  }

  const values: Record<string, unknown> = { positionals, debug: raw.debug === true };
  for (const [key, flag] of Object.entries(program.flags)) {
    const name = kebab(key);
    const given = raw[name];
    if (flag.type === 'boolean') {
      values[key] = raw[`no-${name}`]
        ? false
        : given === true
          ? true
          : flag.env && env[flag.env]
            ? /^(1|true|yes)$/i.test(env[flag.env]!)
            : flag.default;
      continue;
    }
    if (flag.type === 'strings') {
      values[key] =
        (given as string[] | undefined) ??
        (flag.env && env[flag.env] ? env[flag.env]!.split(',') : [...(flag.default ?? [])]);
      continue;
    }
    const source =
      given !== undefined ? `--${name}` : flag.env && env[flag.env] !== undefined ? flag.env : undefined;
    const text = (given as string | undefined) ?? (flag.env ? env[flag.env] : undefined);
    if (text === undefined) {
      values[key] = flag.default;
      continue;
    }
    if (flag.type === 'string') {
      if (flag.choices && !flag.choices.includes(text)) {
        throw new UsageError(`${source} must be one of ${flag.choices.join(', ')}, not '${text}'.`);
      }
      values[key] = text;
      continue;
    }
    values[key] = parseNumber(source!, text, flag);
  }
  return values as Values<S>;
}

function parseNumber(
  source: string,
  text: string,
  flag: Extract<Flag, { type: 'integer' | 'number' }>,
): number {
  const value = Number(text);
  const kind = flag.type === 'integer' ? 'a whole number' : 'a number';
  if (
    text.trim() === '' ||
    !Number.isFinite(value) ||
    (flag.type === 'integer' && !Number.isInteger(value))
  ) {
    throw new UsageError(`${source} must be ${kind}, not '${text}'.`);
  }
  if (flag.min !== undefined && value < flag.min) {
    throw new UsageError(
      `${source} must be ${flag.min === 0 ? 'zero or more' : `at least ${flag.min}`}, not ${text}.`,
    );
  }
  if (flag.max !== undefined && value > flag.max)
    throw new UsageError(`${source} must be at most ${flag.max}, not ${text}.`);
  return value;
}

/**
 * `npm run lesson:02 worker --name X --count 1`, without the `--`: npm takes the flags as its own
 * settings and exports them as npm_config_name=X, npm_config_count=true (the 1 stays behind as an
 * argument), so the program would run without them. Only the program's own flags count: npm sets
 * many npm_config_* of its own (cache, prefix…). Returns the sentence to print, or undefined.
 */
export function flagsNpmTook<S extends Flags>(
  program: Program<S>,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const script = env.npm_lifecycle_event;
  if (!script) return undefined;
  const setting = (name: string) => env[`npm_config_${name.replace(/-/g, '_')}`];
  const leftover = [...argv];
  const takeLeftover = () => {
    const at = leftover.findIndex((arg) => !arg.startsWith('-'));
    return at === -1 ? undefined : leftover.splice(at, 1)[0];
  };
  const taken: string[] = [];
  const flags: [string, Flag][] = [
    ...Object.entries(program.flags),
    ['debug', { type: 'boolean', description: '' }],
  ];
  const given = (name: string) =>
    argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || arg === `--no-${name}`);
  const valueless = flags.filter(
    ([key, flag]) => flag.type !== 'boolean' && !given(kebab(key)) && setting(kebab(key)) === 'true',
  );
  for (const [key, flag] of flags) {
    const name = kebab(key);
    if (given(name)) continue;
    if (argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || arg === `--no-${name}`))
      continue;
    const value = setting(name);
    if (flag.type === 'boolean') {
      // npm reads --no-ack as ack=false, and exports false as an empty string.
      const negated = name.startsWith('no-') && ['', 'false'].includes(setting(name.slice(3)) ?? 'unset');
      if (value === 'true' || negated) taken.push(`--${name}`);
      else if (value === '' || value === 'false') taken.push(`--no-${name}`);
    } else if (value !== undefined) {
      // `--count 1`: npm keeps `--count` (as true) and passes the 1 on; with several such flags we
      // cannot tell which value was whose (npm_config_* come in no order), so we show … instead.
      const shown = value !== 'true' ? value : valueless.length > 1 ? '…' : takeLeftover();
      taken.push(`--${name}`, ...(shown === undefined ? [] : [/\s/.test(shown) ? `'${shown}'` : shown]));
    }
  }
  if (valueless.length > 1)
    leftover.splice(0, leftover.length, ...leftover.filter((arg) => arg.startsWith('-')));
  if (!taken.length) return undefined;
  const names = taken.filter((arg) => arg.startsWith('--'));
  const command = ['npm run', script, '--', program.name, ...taken, ...leftover].join(' ');
  const them = names.length === 1 ? 'it' : 'them';
  return `npm kept ${names.join(', ')} for itself, as there was no -- before ${them}: run ${command}`;
}
