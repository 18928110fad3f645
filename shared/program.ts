// Runs a program: parses its flags (flags.ts), turns errors into one sentence and an exit code, and
// Ctrl+C into a clean stop, so a lesson program holds only the lesson.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rabbitmq } from './errors/amqp.ts';
import { CourseError, type Explainer, explain } from './errors.ts';
import { type Flags, HelpRequested, type Program, parseOptions, type Values } from './flags.ts';
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
 * and an exit code, and turns Ctrl+C into a clean stop (exit 130). Uses process.exitCode, never
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
  const tag = (write: (message: string) => void) => (message: string) => {
    write(first ? `${message} (pid ${process.pid})` : message);
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

export async function run<S extends Flags>(
  program: Program<S>,
  main: (options: Values<S>, context: RunContext) => Promise<unknown>,
  argv: string[],
  services: readonly Explainer[] = [rabbitmq],
): Promise<number> {
  const debug = argv.includes('--debug');
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
    logger(typeof named === 'string' ? `${program.name}-${named}` : program.name, { debug }),
  );
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      log.warn('Second interrupt: exiting now.');
      process.exit(130);
    }
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
    process.exitCode = controller.signal.aborted ? 130 : 0;
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof CourseError)) {
      log.debug(`After the interrupt: ${(error as Error).message}`);
      process.exitCode = 130;
    } else {
      process.exitCode = fail(error);
    }
  }
  if (controller.signal.aborted) log.info('Closing connection. Goodbye.');
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return process.exitCode;
}
