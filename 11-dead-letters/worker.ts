// Worker: takes tasks from the work queue; a task that fails waits in a retry queue (its TTL is the
// delay) and comes back, and after its last attempt goes to the parking lot with why and when.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { UsageError } from '../shared/errors.ts';
import { countFlag, defineProgram, nameFlag, queueFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { behaviour, declareRetries, declareWork, names, PARKED_KEY, parseDelays } from './topology.ts';

export const program = defineProgram({
  name: 'worker',
  summary:
    'Process tasks; retry a failed one after each of --retry-delays, and park it after --max-attempts.',
  flags: {
    queue: queueFlag('dl_tasks', 'the work queue to take tasks from'),
    name: nameFlag('shown in every line, to tell workers apart'),
    maxAttempts: { type: 'integer', min: 1, default: 3, description: 'attempts before a task is parked' },
    retryDelays: {
      type: 'string',
      default: '1,5,30',
      description: 'seconds to wait before attempt 2, 3, …, comma-separated (the last repeats)',
    },
    onFailure: {
      type: 'string',
      default: 'retry',
      choices: ['retry', 'requeue', 'reject'],
      description: 'retry after a delay; requeue at once (the loop); or reject (dead-letter at once)',
    },
    maxRequeues: {
      type: 'integer',
      min: 1,
      default: 30,
      description: 'with --on-failure requeue: stop after requeuing one task this many times',
    },
    deliveryLimit: {
      type: 'integer',
      min: 0,
      description: "x-delivery-limit of the work queue, if it does not exist yet (default: the broker's)",
    },
    prefetch: { type: 'integer', min: 1, default: 10, description: 'tasks to hold at once' },
    fixed: { type: 'boolean', default: false, description: "the bug is fixed: 'poison:' tasks succeed too" },
    effects: { type: 'string', description: 'append a line per task done to this file (the work’s effect)' },
    idempotent: {
      type: 'boolean',
      default: false,
      description: 'with --effects: skip a task whose effect is already in the file',
    },
    crashAfterWork: {
      type: 'boolean',
      default: false,
      description: 'die (SIGKILL) after the first task’s work, before its ack (see the README)',
    },
    count: countFlag('tasks settled (done or parked)'),
  },
  examples: [
    'npm run lesson:11 -- worker',
    'npm run lesson:11 -- worker --max-attempts 5 --retry-delays 1,2,4,8',
  ],
});

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(2))} s`;

export interface Outcome {
  done: number;
  parked: number;
  retries: number;
  requeues: number;
  /** How much later than asked each retry came back, in ms. */
  late: number[];
}

export async function work(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const { name, queue, maxAttempts } = options;
  const delays = parseDelays(options.retryDelays);
  if (options.idempotent && !options.effects)
    throw new UsageError(
      '--idempotent needs --effects FILE: the file is where the worker looks up what it did.',
    );
  const { parking, dlx } = names(queue);
  const outcome: Outcome = { done: 0, parked: 0, retries: 0, requeues: 0, late: [] };
  const requeued = new Map<string, number>();
  // The effects already made: an idempotent worker reads them before it repeats one.
  const made = new Set(
    options.effects && existsSync(options.effects)
      ? readFileSync(options.effects, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split(' ')[0])
      : [],
  );
  const stop = new AbortController();
  let settling = 0; // done or parked, counted before the ack so --count is never overshot
  const full = () => options.count !== undefined && settling >= options.count;
  const settled = () => {
    if (options.count !== undefined && outcome.done + outcome.parked >= options.count) stop.abort();
  };

  const publishConfirmed = (
    channel: ConfirmChannel,
    exchange: string,
    key: string,
    msg: ConsumeMessage,
    headers: Options.Publish['headers'],
  ) =>
    new Promise<void>((resolve, reject) =>
      channel.publish(
        exchange,
        key,
        msg.content,
        {
          persistent: true,
          messageId: msg.properties.messageId,
          headers,
        },
        (error) => (error ? reject(error) : resolve()),
      ),
    );

  const onTask = async (channel: Channel, publisher: ConfirmChannel, msg: ConsumeMessage) => {
    const task = msg.content.toString();
    const id = msg.properties.messageId ?? task;
    const headers = msg.properties.headers ?? {};
    // Our own count: x-death is the broker's, and on RabbitMQ 4 it stays at 1 for a message we publish again.
    const attempt = Number(headers['x-attempts'] ?? 0) + 1;
    if (typeof headers['x-failed-at'] === 'number' && typeof headers['x-retry-delay-ms'] === 'number')
      outcome.late.push(Date.now() - headers['x-failed-at'] - headers['x-retry-delay-ms']);
    const { failsUntil, why } = behaviour(task);
    const fails = attempt <= failsUntil && !(options.fixed && failsUntil === Infinity);
    if (!fails || attempt >= maxAttempts || options.onFailure !== 'retry') {
      if (full()) return channel.nack(msg, false, true); // past --count: back to the queue for another worker
    }
    if (!fails) {
      settling++;
      if (options.idempotent && made.has(id)) {
        log.info(` [=] ${name} skipped '${task}': its effect is already made (a redelivery)`);
      } else {
        if (options.effects) appendFileSync(options.effects, `${id} ${task}\n`);
        made.add(id);
        if (options.crashAfterWork) {
          log.warn(` [!] ${name} dies after the work of '${task}', before its ack (--crash-after-work)`);
          process.kill(process.pid, 'SIGKILL');
        }
        log.info(` [x] ${name} done '${task}' (attempt ${attempt})`);
      }
      channel.ack(msg);
      outcome.done++;
      return settled();
    }
    if (options.onFailure === 'requeue') {
      const times = (requeued.get(id) ?? 0) + 1;
      requeued.set(id, times);
      const count = headers['x-delivery-count'];
      if (times > options.maxRequeues) {
        log.warn(` [!] ${name}: '${task}' failed ${times} times in a row (a requeue loop): stopping`);
        channel.nack(msg, false, true);
        return stop.abort();
      }
      log.warn(
        ` [!] ${name} failed '${task}' (delivery ${times}${count === undefined ? '' : `, x-delivery-count ${count}`}): requeued`,
      );
      outcome.requeues++;
      return channel.reject(msg, true);
    }
    if (options.onFailure === 'reject') {
      // The broker dead-letters it to the parking lot at once, reason 'rejected'.
      settling++;
      log.warn(` [✗] ${name} rejected '${task}': ${why} (dead-lettered)`);
      channel.reject(msg, false);
      outcome.parked++;
      return settled();
    }
    const now = Date.now();
    const failures = [
      ...((headers['x-failures'] as string[] | undefined) ?? []),
      `attempt ${attempt} at ${new Date(now).toISOString()}: ${why}`,
    ];
    // #region retry
    const history = {
      'x-attempts': attempt,
      'x-failures': failures,
      'x-first-failure': headers['x-first-failure'] ?? now,
      'x-last-failure': now,
    };
    if (attempt < maxAttempts) {
      const delay = delays[Math.min(attempt - 1, delays.length - 1)]!;
      // To the retry queue of that delay; it expires back to the work queue. Confirmed, then acked:
      // if we die in between, the task is in both places (a duplicate), never in neither.
      await publishConfirmed(publisher, '', names(queue).retry(delay), msg, {
        ...history,
        'x-failed-at': now,
        'x-retry-delay-ms': delay,
      });
      channel.ack(msg);
      outcome.retries++;
      log.warn(
        ` [!] ${name} failed '${task}' (attempt ${attempt} of ${maxAttempts}): retry in ${seconds(delay)}`,
      );
      return;
    }
    settling++;
    await publishConfirmed(publisher, dlx, PARKED_KEY, msg, { ...history, 'x-reason': why });
    channel.ack(msg);
    // #endregion
    outcome.parked++;
    log.warn(` [✗] ${name} parked '${task}' after ${attempt} attempts: ${why}`);
    settled();
  };

  const setup = async (channel: Channel) => {
    await declareWork(channel, queue, { deliveryLimit: options.deliveryLimit });
    await declareRetries(channel, queue, delays);
    // Retries and parked tasks are published on a confirm channel: acked only once they are safe.
    const publisher = await connection.confirmChannel();
    await channel.prefetch(options.prefetch);
    log.info(` [*] ${name} waiting for tasks in ${queue} (parking lot ${parking}). To exit press CTRL+C`);
    return channel.consume(queue, (msg) => (msg ? onTask(channel, publisher, msg) : undefined), {
      noAck: false,
    });
  };

  const connection = await connect({ log, recover: true, name: `lesson 11 worker ${name}` });
  try {
    await keepConsuming(connection, setup, { signal: AbortSignal.any([signal, stop.signal]), log });
  } finally {
    await connection.close();
  }
  const sorted = [...outcome.late].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  log.success(
    ` [✓] ${name}: ${outcome.done + outcome.parked} settled: ${outcome.done} done, ${outcome.parked} parked, ${outcome.retries} retries${outcome.requeues ? `, ${outcome.requeues} requeues` : ''}${median === undefined ? '' : `; retries came back ${seconds(median)} late at the median (between ${seconds(sorted[0]!)} and ${seconds(sorted.at(-1)!)} late)`}.`,
  );
  return outcome;
}

runMain(import.meta, program, work);
