// What the tests (and the course's self-checks) share: unique names, programs spawned as a
// learner runs them, captured logs, and a connection for setting the scene and cleaning up.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import amqp from 'amqplib';
import { brokerUrl } from '../shared/connection.ts';
import { type Log, logger } from '../shared/logger.ts';
import { ManagementClient } from '../shared/management.ts';
import { repoRoot } from '../shared/repo-root.ts';

/** A name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** A logger whose lines a test can read. */
export function captureLog({ debug = false } = {}): { log: Log; lines: string[] } {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return { log: logger('test', { stream, file: false, debug }), lines };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class Running extends EventEmitter {
  readonly lines: string[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  // Each waiter counts its matches as lines arrive: rescanning every line on every line is
  // quadratic, and a producer's 200,000 CSV rows then starve the test process for minutes.
  private waiters: { pattern: RegExp; count: number; seen: number; resolve: (line: string) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    super();
    const onData = (which: 'stdout' | 'stderr') => {
      let partial = '';
      return (chunk: Buffer) => {
        const text = chunk.toString();
        this[which] += text;
        const parts = (partial + text).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.addLine(line);
        // A prompt waits on an unfinished line: let waiters see it too.
        if (partial) this.checkPartial(partial);
      };
    };
    child.stdout?.on('data', onData('stdout'));
    child.stderr?.on('data', onData('stderr'));
    this.exited = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        for (const waiter of this.waiters) waiter.resolve('');
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      }),
    );
  }

  private addLine(line: string) {
    this.lines.push(line);
    this.emit('line', line);
    for (const waiter of [...this.waiters]) {
      if (waiter.pattern.test(line)) waiter.seen++;
      if (waiter.seen >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }

  private checkPartial(partial: string) {
    for (const waiter of [...this.waiters]) {
      if (waiter.count === 1 && waiter.pattern.test(partial)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(partial);
      }
    }
  }

  /** Resolves when `count` lines matching `pattern` were printed; rejects if the program ends first. */
  async waitFor(pattern: RegExp, count = 1): Promise<string> {
    const seen = this.lines.filter((l) => pattern.test(l));
    if (seen.length >= count) return seen[count - 1]!;
    const line = await new Promise<string>((resolve) =>
      this.waiters.push({ pattern, count, seen: seen.length, resolve }),
    );
    if (!pattern.test(line) && this.lines.filter((l) => pattern.test(l)).length < count) {
      const exit = await this.exited;
      throw new Error(
        `the program ended (code ${exit.code}, signal ${exit.signal}) before printing ${count} × ${pattern}:\n${this.lines.join('\n')}`,
      );
    }
    return line;
  }

  matching(pattern: RegExp): string[] {
    return this.lines.filter((l) => pattern.test(l));
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Resolves when the programs together printed `count` lines matching `pattern`. */
export async function waitForTotal(programs: Running[], pattern: RegExp, count: number): Promise<void> {
  const total = () => programs.reduce((sum, program) => sum + program.matching(pattern).length, 0);
  const controller = new AbortController();
  try {
    while (total() < count) {
      const ended = programs.find(
        (program) => program.child.exitCode !== null || program.child.signalCode !== null,
      );
      if (ended)
        throw new Error(`a program ended before the programs printed ${count} × ${pattern} (got ${total()})`);
      // Wake on the next line from any of them, or on any of them ending.
      await Promise.race(
        programs.flatMap((program) => [
          once(program, 'line', { signal: controller.signal }),
          once(program.child, 'close', { signal: controller.signal }),
        ]),
      );
    }
  } finally {
    controller.abort();
  }
}

/**
 * Waits for broker state that has no event a client can listen to (a consumer gone after a
 * SIGKILL, say), by asking again every 50 ms; fails with `what` after `seconds`.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  seconds = 30,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const running = new Set<Running>();

/** Starts `folder/program.ts` the way `npm run lesson:NN -- program` does. */
export function start(program: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, `${program}.ts`), ...args], {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = new Running(child);
  running.add(handle);
  void handle.exited.then(() => running.delete(handle));
  return handle;
}

/** Runs a program to its end. */
export function runProgram(program: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Exit> {
  return start(program, args, env).exited;
}

/** Kills whatever a test started and left running (afterEach/afterAll). */
export async function stopAll(): Promise<void> {
  const all = [...running];
  for (const handle of all) handle.kill('SIGKILL');
  await Promise.all(all.map((handle) => handle.exited));
}

/** A plain amqplib connection for setting up scenes and cleaning up; deletes its queues on close. */
export async function testConnection() {
  const connection = await amqp.connect(brokerUrl());
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => {});
  const queues = new Set<string>();
  const exchanges = new Set<string>();
  return {
    connection,
    channel,
    /** Remembers a queue to delete at the end. */
    own(...names: string[]) {
      for (const name of names) queues.add(name);
      return names[0]!;
    },
    /** Remembers an exchange to delete at the end. */
    ownExchange(name: string) {
      exchanges.add(name);
      return name;
    },
    async close() {
      const cleaner = await connection.createChannel();
      cleaner.on('error', () => {});
      for (const queue of queues) await cleaner.deleteQueue(queue).catch(() => {});
      for (const exchange of exchanges) await cleaner.deleteExchange(exchange).catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}

/** What a queue held when a test emptied it. */
export interface Drained {
  /** Every message, in the order it was taken off. */
  messages: amqp.Message[];
  /** Their message ids, duplicates included. */
  ids: string[];
  /** The different ids. */
  unique: Set<string>;
  /** Messages whose id came before. */
  duplicates: number;
}

/**
 * Takes every message off `queue` at `url` and counts them by message id: no program's consumer is
 * involved, so this is exactly what the broker holds. The queue is then deleted (with `alsoDelete`'s
 * queues and exchanges) unless `remove` is false. A missing queue rejects (404).
 */
export async function drainQueue(
  url: string,
  queue: string,
  {
    remove = true,
    alsoDelete = {},
  }: { remove?: boolean; alsoDelete?: { queues?: string[]; exchanges?: string[] } } = {},
): Promise<Drained> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {}); // a queue already gone is a 404 that closes this channel
    const messages: amqp.Message[] = [];
    // What is there now comes fastest through a consumer (tens of thousands after a lesson 05
    // drill). It has all of it once it holds as many as the queue had, or once the queue has nothing
    // ready left (a program still consuming took some: asked again every 20 ms, as no event says it).
    // What came after, one basic.get at a time until the queue answers empty.
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount > 0) {
      const { consumerTag } = await channel.consume(
        queue,
        (message) => {
          if (message) messages.push(message);
        },
        { noAck: true },
      );
      while (messages.length < messageCount && (await channel.checkQueue(queue)).messageCount > 0)
        await new Promise((resolve) => setTimeout(resolve, 20));
      await channel.cancel(consumerTag); // deliveries before its cancel-ok are in `messages` by now
    }
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (!message) break;
      messages.push(message);
    }
    if (remove) {
      await channel.deleteQueue(queue);
      for (const name of alsoDelete.queues ?? []) await channel.deleteQueue(name);
      for (const name of alsoDelete.exchanges ?? []) await channel.deleteExchange(name);
    }
    const ids = messages.map((message) => String(message.properties.messageId));
    const unique = new Set(ids);
    return { messages, ids, unique, duplicates: ids.length - unique.size };
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Reads a queue's figures from the management API. */
export async function queueInfo(
  queue: string,
  vhost = '/',
): Promise<Record<string, unknown> & { messages?: number }> {
  const path = `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`;
  const figures = await new ManagementClient({ timeoutMs: 10_000 }).request(path);
  if (!figures) throw new Error(`management API: no queue ${queue}`);
  return figures as Record<string, unknown>;
}

/** The management API lists a connection once its stats are in (up to 5 s): ask until it is there. */
export async function connectionNamed(managementUrl: string, name: string): Promise<string> {
  const api = new ManagementClient({ url: managementUrl, vhost: '/' });
  const found = await eventually(
    async () => (await api.connections()).find((c) => c.clientName === name),
    `the connection named '${name}'`,
    60,
  );
  return found.name;
}

/** Closes a connection as an operator would; fails if it is gone (then the drill cut nothing). */
export async function closeConnection(managementUrl: string, name: string): Promise<void> {
  if (!(await new ManagementClient({ url: managementUrl, vhost: '/' }).closeConnection(name)))
    throw new Error(`the connection '${name}' was gone before the drill could close it`);
}

/** The one-sentence contract for errors: a line, no stack, no secret. */
export function expectOneSentence(stderr: string, secret?: string): string[] {
  const lines = stderr.split('\n').filter((line) => line.trim() && !/^npm (warn|notice)/.test(line));
  const problems: string[] = [];
  if (lines.length !== 1) problems.push(`expected one line on stderr, got ${lines.length}`);
  if (/\n\s+at .+:\d+:\d+/.test(stderr)) problems.push('a stack trace was printed');
  if (secret && stderr.includes(secret)) problems.push('the secret was printed');
  return problems;
}

export type TestConnection = Awaited<ReturnType<typeof testConnection>>;

/**
 * The setup every broker test file shares: a connection for the scene opened before the tests,
 * programs left running killed after each test, and the test's queues deleted at the end.
 */
export function useTestConnection(): TestConnection {
  let rabbit: TestConnection | undefined;
  beforeAll(async () => {
    rabbit = await testConnection();
  });
  afterEach(stopAll);
  afterAll(() => rabbit?.close());
  const current = () => {
    if (!rabbit)
      throw new Error('useTestConnection: the rabbit is opened in beforeAll; use it inside a test');
    return rabbit;
  };
  return {
    get connection() {
      return current().connection;
    },
    get channel() {
      return current().channel;
    },
    own: (...names: string[]) => current().own(...names),
    ownExchange: (name: string) => current().ownExchange(name),
    close: () => current().close(),
  };
}

/** Waits for `what`, failing with the program's last lines when it takes longer than `seconds`. */
export async function within<T>(seconds: number, program: Running, what: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`not within ${seconds} s; it printed:\n${lastLines(program)}`)),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([what, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The end of what a program printed: stderr's last lines (where it talks), then stdout's. */
function lastLines(program: Running): string {
  const tail = (text: string, n: number) => text.trimEnd().split('\n').slice(-n).join('\n');
  return `stderr:\n${tail(program.stderr, 12)}\nstdout:\n${tail(program.stdout, 5)}`;
}
