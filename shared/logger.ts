// Human output: one line per event to stderr (coloured on a terminal) and to logs/<program>.log.
// stdout stays free for data (lesson 05's CSVs).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { chalkStderr as chalk } from 'chalk';
import winston from 'winston';
import { repoRoot } from './repo-root.ts';
import { maskSecrets } from './secrets.ts';

export interface Log {
  info(message: string): void;
  /** Good news: a task done, a run finished. Green on a terminal. */
  success(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

export interface LoggerOptions {
  /** Where human lines go; stderr unless a test captures them. */
  stream?: Writable;
  /** The log file; false for none. Default logs/<program>.log (LOG_DIR overrides the folder). */
  file?: string | false;
  /** Show debug lines on the stream too (--debug). */
  debug?: boolean;
}

const levels = { error: 0, warn: 1, success: 2, info: 2, debug: 3 };
const paint: Record<string, (text: string) => string> = {
  error: chalk.red,
  warn: chalk.yellow,
  success: chalk.green,
  info: (text) => text,
  debug: chalk.gray,
};

export function logger(program: string, options: LoggerOptions = {}): Log {
  const transports: winston.transport[] = [
    new winston.transports.Stream({
      stream: options.stream ?? process.stderr,
      level: options.debug ? 'debug' : 'info',
      format: winston.format.printf(({ level, message }) => (paint[level] ?? String)(String(message))),
    }),
  ];
  const file =
    options.file ?? join(process.env.LOG_DIR || join(repoRoot, 'logs'), `${safeName(program)}.log`);
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    transports.push(
      new winston.transports.File({
        filename: file,
        level: 'debug',
        format: winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(
            ({ timestamp, level, message }) =>
              `${timestamp} ${level.padEnd(7)} [${program}] ${String(message).trimStart()}`,
          ),
        ),
      }),
    );
  }
  const winstonLogger = winston.createLogger({ levels, level: 'debug', transports });
  const write = (level: keyof typeof levels) => (message: string) => {
    winstonLogger.log(level, maskSecrets(message));
  };
  return {
    info: write('info'),
    success: write('success'),
    warn: write('warn'),
    error: write('error'),
    debug: write('debug'),
  };
}

function safeName(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]+/g, '-');
}
