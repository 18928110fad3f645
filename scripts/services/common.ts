// What every service check shares: printing, running commands, waiting for ports, apt and Docker.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { promisify } from 'node:util';
import { chalkStderr } from 'chalk';
import { maskSecrets } from '../../shared/secrets.ts';

export const chalk = chalkStderr;
const execFile = promisify(execFileCb);

export const say = (text: string) => process.stderr.write(`${text}\n`);

/** A failure the script explains in one sentence (what happened, what to do); never a stack. */
export class ServiceError extends Error {}

/** host and port of a URL; a URL that does not parse is one sentence that never quotes it. */
export function hostPort(url: string, defaultPort: number, variable: string): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ServiceError(
      `${variable} is not a URL this script can read: fix it (characters such as / @ # : in a password must be percent-encoded, e.g. %2F for /).`,
    );
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: Number(parsed.port) || defaultPort,
  };
}

/**
 * A URL as this script shows it: scheme, host and port only. Never user info, a query string or
 * the path (a password with an unencoded / ends up in the path).
 */
export function shownUrl(url: string): string {
  try {
    const { protocol, host } = new URL(url);
    return `${protocol}//${host}`;
  } catch {
    return '(a URL that does not parse)';
  }
}

export const isLocalHost = (host: string) => ['localhost', '127.0.0.1', '::1'].includes(host);

export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const has = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Runs a command, showing it; a failure becomes one sentence with the command's last error line. */
export async function run(
  command: string,
  args: string[],
  options: { quiet?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  if (!options.quiet) say(chalk.gray(`  $ ${maskSecrets([command, ...args].join(' '))}`));
  try {
    const { stdout } = await execFile(command, args, {
      timeout: 900_000,
      maxBuffer: 64 * 1024 * 1024,
      env: options.env ?? process.env,
    });
    return stdout;
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    const last = `${stderr ?? ''}\n${stdout ?? ''}\n${message}`
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('Command failed'))
      .pop();
    throw new ServiceError(`${command} ${args[0] ?? ''} failed: ${maskSecrets(last ?? message)}`);
  }
}

/** Asks `check` again every 300 ms until it says yes or `seconds` pass. */
export async function waitFor(check: () => Promise<boolean>, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return false;
}

export const canApt = () => process.getuid?.() === 0 && existsSync('/etc/debian_version') && has('apt-get');

/** True when every package is installed (dpkg says so). */
export function aptInstalled(packages: string[]): boolean {
  try {
    // dpkg-query's own ${Status} field, not a JavaScript placeholder.
    const format = `-f=${'$'}{Status}\\n`;
    const status = execFileSync('dpkg-query', ['-W', format, ...packages], { stdio: 'pipe' });
    return status
      .toString()
      .trim()
      .split('\n')
      .every((line) => line.endsWith(' installed'));
  } catch {
    return false;
  }
}

let aptUpdated = false;
/** apt-get install, with one apt-get update per run. */
export async function aptInstall(packages: string[]): Promise<void> {
  if (!aptUpdated) await run('apt-get', ['update', '-q']);
  aptUpdated = true;
  await run('env', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-q', ...packages]);
}

export async function dockerAnswers(): Promise<boolean> {
  if (!has('docker')) return false;
  return execFile('docker', ['info'], { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
}

/**
 * Starts the course's container: `docker start` when this script created it before (its data and
 * settings kept), else `docker run` with every port published on 127.0.0.1 only.
 */
export async function dockerUp(name: string, ports: [host: number, container: number][], image: string[]) {
  const exists = await execFile('docker', ['container', 'inspect', name], { timeout: 30_000 }).then(
    () => true,
    () => false,
  );
  if (exists) {
    await run('docker', ['start', name]);
    return;
  }
  const publish = ports.flatMap(([host, container]) => ['-p', `127.0.0.1:${host}:${container}`]);
  await run('docker', ['run', '-d', '--name', name, ...publish, ...image]);
}

/**
 * The version a RabbitMQ management API reports, or why it does not serve the course: not
 * answering, refusing the login, or answering something that is not the API (an HTML page).
 */
export async function managementProblem(
  base: string,
  authorization: string,
): Promise<{ problem: string; kind: 'down' | 'login' | 'other' } | { version: string }> {
  const shown = shownUrl(base);
  let response: Response;
  try {
    response = await fetch(`${base}/api/overview`, {
      headers: { authorization },
      signal: AbortSignal.timeout(3000),
    });
  } catch {
    return { problem: `nothing answers at ${shown}`, kind: 'down' };
  }
  if (response.status === 401)
    return {
      problem: `it refused the login at ${shown} (401): fix the user or password in RABBITMQ_MANAGEMENT_URL or AMQP_URL`,
      kind: 'login',
    };
  const text = await response.text().catch(() => '');
  let body: { rabbitmq_version?: unknown } | undefined;
  try {
    body = JSON.parse(text) as { rabbitmq_version?: unknown };
  } catch {
    body = undefined;
  }
  if (!response.ok || typeof body?.rabbitmq_version !== 'string')
    return {
      problem: `${shown} answered ${response.status} ${/^\s*</.test(text) ? 'with an HTML page' : 'with something'} that is not RabbitMQ's management API: point RABBITMQ_MANAGEMENT_URL at the management plugin (http://localhost:15672 by default)`,
      kind: 'other',
    };
  return { version: body.rabbitmq_version };
}
