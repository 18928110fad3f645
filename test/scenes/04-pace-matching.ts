// What lesson 04's fault drills and tests share: programs started against a private node, their
// own connection found through the management API, a paced queue emptied and counted, and the
// lines a program prints, --debug ones included.
import { PassThrough } from 'node:stream';
import amqp from 'amqplib';
import { pace } from '../../04-pace-matching/config.ts';
import { declarePaceQueue } from '../../04-pace-matching/pace-queue.ts';
import type { RabbitNode } from '../../scripts/rabbit-node.ts';
import { type Log, logger } from '../../shared/logger.ts';
import { ManagementClient } from '../../shared/management.ts';
import { closeConnection, connectionNamed, drainQueue, eventually, type Running, start } from '../testing.ts';

/** Starts a lesson 04 program (as `node --import tsx file.ts`, so its PID is its own) on `urls`. */
export function startOn(
  node: RabbitNode,
  program: string,
  args: string[],
  urls: string[] = [node.amqpUrl],
): Running {
  return start(`04-pace-matching/${program}`, args, {
    AMQP_URL: urls.join(','),
    RABBITMQ_MANAGEMENT_URL: node.managementUrl,
  });
}

/**
 * The program's own connection, found by the name it gives itself. Look it up early: the management
 * API lists a connection only after its first statistics event, seconds after it opened.
 */
export async function connectionOf(node: RabbitNode, program: Running, prefix: string) {
  const name = await connectionNamed(node.managementUrl, `${prefix} (pid ${program.child.pid})`);
  /** Closes it, as an operator would in the management UI (the program sees 320 CONNECTION_FORCED). */
  return { close: () => closeConnection(node.managementUrl, name) };
}

/** Waits until the node's management API answers (it starts a moment after AMQP does). */
export async function managementUp(node: RabbitNode): Promise<void> {
  const api = new ManagementClient({ url: node.managementUrl, vhost: '/' });
  await eventually(
    async () => (await api.overview().catch(() => undefined)) !== undefined,
    'the management API',
  );
}

/**
 * Empties a drill's paced queue and counts it by seq (its message id), with test/testing.ts's
 * drainQueue; then removes it with its dead-letter queue and the events exchange the drills name
 * after it, unless `remove` is false.
 */
export const drainPaced = (url: string, queue: string, remove = true) =>
  drainQueue(url, queue, {
    remove,
    alsoDelete: { queues: [pace.deadLetterQueue(queue)], exchanges: [`${queue}.events`] },
  });

/** 1..n missing from `ids`. */
export function missing(ids: Set<string>, n: number): number[] {
  const gaps: number[] = [];
  for (let i = 1; i <= n; i++) if (!ids.has(String(i))) gaps.push(i);
  return gaps;
}

/** Problems with what a program printed: a stack, or a password. */
export function printedBadly(program: Running): string[] {
  const text = program.stdout + program.stderr;
  const problems: string[] = [];
  if (/^\s+at .+:\d+:\d+\)?$/m.test(text)) problems.push('a stack trace');
  if (/guest:guest@/.test(text)) problems.push('a password');
  return problems;
}

/** Seconds a "Reconnected … after X s" line names. */
export function recoverySeconds(program: Running): number | undefined {
  const line = program.matching(/Reconnected .* after /).pop();
  return line ? Number(/after ([\d.]+) s/.exec(line)?.[1]) : undefined;
}

/** Puts messages 1..n (ids `from`..) in a paced queue declared as the programs declare it. */
export async function fill(url: string, queue: string, n: number, from = 1): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    await declarePaceQueue(channel, {
      queue,
      queueLimit: pace.queueLimit,
      overflow: pace.overflow,
      queueType: pace.queueType,
    });
    for (let seq = from; seq < from + n; seq++) {
      const publishedAt = Date.now();
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ seq, publishedAt })), {
        persistent: true,
        messageId: String(seq),
        headers: { 'x-seq': seq, 'x-published-at': publishedAt },
      });
    }
    await channel.waitForConfirms();
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Publishes one consumer event, as slow-consumer reports, to the monitor's exchange. */
export async function reportAge(url: string, exchange: string, age: number): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(exchange, 'topic', { durable: false });
    const event = { source: 'consumer', processed: 1, latencies: [0.001], ages: [age], retried: 0, dead: 0 };
    channel.publish(exchange, 'consumer', Buffer.from(JSON.stringify(event)));
    await channel.waitForConfirms();
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Like captureLog, with the lines a learner sees with --debug too (each message processed, each drain). */
export function captureDebugLog(): { log: Log; lines: string[] } {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return { log: logger('test', { stream, file: false, debug: true }), lines };
}

/** A producer status line's figures (` [>] target 400/s confirmed … total N`). */
export function producerStatus(line: string) {
  const figure = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(line)?.[1]);
  return { targetRate: figure('target'), nacks: figure('nacks'), inFlight: figure('in flight') };
}

/** The producer's status lines among `lines`. */
export const statusLines = (lines: string[]) => lines.filter((line) => line.startsWith(' [>] target '));
