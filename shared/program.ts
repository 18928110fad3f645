// Runs a program: parses its flags (flags.ts), turns errors into one sentence and an exit code, and
// Ctrl+C into a clean stop, so a lesson program holds only the lesson.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rabbitmq } from './errors/amqp.ts';
import { CourseError, type Explainer, explain } from './errors.ts';
import { type Flags, flagsNpmTook, HelpRequested, type Program, parseOptions, type Values } from './flags.ts';
import { type Log, logger } from './logger.ts';

export interface RunContext {
  log: Log;
  /** Fires on Ctrl+C (SIGINT) or SIGTERM: stop taking work, finish cleanly. */
  signal: AbortSignal;
}

/** True when this module is the file node was started with (not imported by a test or the menu). */
export function isEntryPoint(meta: ImportMeta): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(meta.url));
  } catch {
    return false;
  }
}

/**
 * Runs a program when its file is the entry point: parses flags, turns errors into one sentence
 * and an exit code, and turns Ctrl+C into a clean stop (exit 130; 143 for SIGTERM). Uses process.exitCode, never
 * process.exit, so output is never cut off. `services` are the explainers of the services the
 * program talks to (RabbitMQ's unless it says otherwise), for an error that reaches this far.
 */
export function runMain<S extends Flags>(
  meta: ImportMeta,
  program: Program<S>,
  main: (options: Values<S>, context: RunContext) => Promise<unknown>,
  services: readonly Explainer[] = [rabbitmq],
): void {
  if (!isEntryPoint(meta)) return;
  void run(program, main, process.argv.slice(2), services);
}

/**
 * The program's first line ends with its PID, so `kill -9 <pid>` has a target: `npm run` starts a
 * chain of processes (npm, sh, tsx, node), and killing the wrong one orphans the program.
 */
function withPid(log: Log): Log {
  let first = true;
  let afterNote = false;
  const tag = (write: (message: string) => void) => (message: string) => {
    // The first line carries the PID. When that line was a note in plain words (a queue just
    // created, nobody reading it) rather than a line in the programs' ` [x]` voice, the first
    // ` [*] … waiting` line carries it too: that is the line a learner reads as "it runs".
    const ready = afterNote && message.startsWith(' [*]');
    write(first || ready ? `${message} (pid ${process.pid})` : message);
    if (first) afterNote = !message.startsWith(' [');
    else if (ready) afterNote = false;
    first = false;
  };
  return {
    info: tag(log.info),
    success: tag(log.success),
    warn: tag(log.warn),
    // An error ends the program: no target to give. Debug lines show only with --debug.
    error: (message) => log.error(message),
    debug: (message) => log.debug(message),
  };
}

/**
 * One signal can arrive two or three times: a terminal's Ctrl+C, `timeout` or a closed terminal
 * signal the whole process group, and npm, npx or the lesson launcher pass their own copy on. The
 * copies come within a few milliseconds of each other (tens on a loaded machine); a person who
 * presses Ctrl+C again because the first seemed to do nothing has read the line it printed first,
 * which takes longer than a second. So: the same signal within 1 s is the same signal.
 */
export const SIGNAL_COPY_WINDOW_MS = 1000;

/** The shell's convention: 128 + the signal's number (SIGINT 2 gives 130, SIGTERM 15 gives 143). */
function exitCodeOf(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

export async function run<S extends Flags>(
  program: Program<S>,
  main: (options: Values<S>, context: RunContext) => Promise<unknown>,
  argv: string[],
  services: readonly Explainer[] = [rabbitmq],
): Promise<number> {
  const debug = argv.includes('--debug');
  const npmTook = flagsNpmTook(program, argv);
  if (npmTook) {
    process.stderr.write(`${npmTook}\n`);
    process.exitCode = 2;
    return 2;
  }
  let options: Values<S>;
  try {
    options = parseOptions(program, argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(`${error.message}\n`);
      process.exitCode = 0;
      return 0;
    }
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
    return 2;
  }
  const named = (options as { name?: unknown }).name;
  const log = withPid(
    // The name goes into the log file's name only when it makes a file name (lesson 12's --name is an offset's reference, up to 255 bytes).
    logger(
      typeof named === 'string' && /^[\w.-]{1,64}$/.test(named) ? `${program.name}-${named}` : program.name,
      {
        debug,
      },
    ),
  );
  const controller = new AbortController();
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (first) {
      // The same signal again within the window is a copy (the process group's and npm's or the
      // launcher's relay of it arrive milliseconds apart), not a person asking again.
      if (signal === first.signal && now - first.at < SIGNAL_COPY_WINDOW_MS) return;
      log.warn('Second interrupt: exiting now.');
      process.exit(exitCodeOf(signal));
    }
    first = { signal, at: now };
    log.warn(`${signal === 'SIGINT' ? 'Ctrl+C' : signal}: finishing what the broker is waiting for…`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const fail = (error: unknown) => {
    const explained = explain(error, {}, services);
    log.error(explained.message);
    if (debug) log.debug(String((explained.cause as Error | undefined)?.stack ?? explained.stack));
    return explained.exitCode;
  };
  process.on('uncaughtException', (error) => {
    // Written at once: the logger writes asynchronously, and process.exit would cut it off.
    const explained = explain(error, {}, services);
    process.stderr.write(`${explained.message}\n`);
    if (debug) process.stderr.write(`${String((error as Error)?.stack)}\n`);
    process.exit(explained.exitCode);
  });
  try {
    await main(options, { log, signal: controller.signal });
    process.exitCode = first ? exitCodeOf(first.signal) : 0;
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof CourseError)) {
      log.debug(`After the interrupt: ${(error as Error).message}`);
      process.exitCode = exitCodeOf(first?.signal ?? 'SIGINT');
    } else {
      process.exitCode = fail(error);
    }
  }
  if (controller.signal.aborted) log.info('Closing connection. Goodbye.');
  // After a signal the handlers stay: a relayed copy may still be on its way (tsx waits 30 ms
  // before relaying), and without a handler it would kill the process as it ends, exit code lost.
  if (!first) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return process.exitCode;
}
