// RPC client: asks rpc-server for Fibonacci numbers and waits for each answer by its correlation id.
// Replies come back by Direct Reply-to (the default) or to an exclusive callback queue.
import { randomUUID } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import { connect } from '../shared/connection.ts';
import { CourseError, explain, UsageError } from '../shared/errors.ts';
import { defineProgram, queueFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'rpc-client',
  summary: 'Ask rpc-server for fib(n), one or several at once, and print each answer.',
  positionals: 'n',
  flags: {
    queue: queueFlag('rpc_queue', 'the queue rpc-server takes requests from'),
    replyQueue: {
      type: 'string',
      default: 'direct',
      choices: ['direct', 'exclusive'],
      description: 'where replies come back: Direct Reply-to, or an exclusive queue of our own',
    },
    concurrency: {
      type: 'integer',
      min: 1,
      default: 10,
      description: 'requests waiting for a reply at once',
    },
    timeoutSeconds: {
      type: 'number',
      min: 0.1,
      default: 30,
      description: 'give up on a request with no reply after this long',
    },
    latency: {
      type: 'boolean',
      default: false,
      description: 'end with requests per second and the reply latency p50/p99',
    },
  },
  examples: [
    'npm run lesson:10 -- rpc-client 30',
    'npm run lesson:10 -- rpc-client 10 20 30 --reply-queue exclusive',
  ],
});

/** The requests, checked before anything is sent: n as decimal digits. */
export function requestsFrom(positionals: string[]): string[] {
  if (!positionals.length) throw new UsageError('Say which fib(n) to ask for: rpc-client 30 (see --help).');
  for (const n of positionals) {
    if (!/^\d+$/.test(n))
      throw new UsageError(`'${n}' is not a whole number n ≥ 0: ask for fib(n) as in rpc-client 30.`);
  }
  return positionals.map((n) => BigInt(n).toString());
}

interface Request {
  n: string;
  id: string;
  /** Epoch milliseconds after which nobody waits for the reply. */
  deadline: number;
  /** performance.now() when it was first sent, for --latency. */
  sentAt: number;
  timer?: NodeJS.Timeout;
}

export interface Outcome {
  answered: number;
  redelivered: number;
  resent: number;
  duplicates: number;
  unknown: number;
}

/** Long numbers shortened for the terminal: fib(100000) has 20,899 digits. */
const show = (value: string) =>
  value.length > 60 ? `${value.slice(0, 20)}…${value.slice(-20)} (${value.length} digits)` : value;

export async function call(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
): Promise<Outcome> {
  const numbers = requestsFrom(options.positionals);
  const { queue } = options;
  const single = numbers.length === 1;
  const timeoutMs = Math.round(options.timeoutSeconds * 1000);
  const started = performance.now();

  const todo = [...numbers];
  const waiting = new Map<string, Request>(); // correlationId → the request waiting for it
  const finished = new Set<string>(); // answered, refused or given up: a reply for these is dropped
  const errors: string[] = [];
  const timedOut: string[] = [];
  const outcome: Outcome = { answered: 0, redelivered: 0, resent: 0, duplicates: 0, unknown: 0 };
  const latencies: number[] = [];
  let firstSent = 0;
  let lastReply = 0;

  let resolveDone: () => void = () => {};
  let rejectDone: (error: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const settleIfDone = () => {
    if (!todo.length && !waiting.size) resolveDone();
  };

  let channel: Channel | undefined;
  let replyTo = '';

  // #region on-reply
  const onReply = (reply: ConsumeMessage | null) => {
    if (!reply) return;
    const id = reply.properties.correlationId;
    const request = waiting.get(id);
    if (!request) {
      // Not a request we wait for: answered already (a server died before its ack) or not ours.
      if (finished.has(id)) outcome.duplicates++;
      else outcome.unknown++;
      log.debug(` [?] dropped a reply to ${id}: nobody waits for it`);
      return;
    }
    waiting.delete(id);
    finished.add(id);
    clearTimeout(request.timer);
    // #endregion
    lastReply = performance.now();
    latencies.push(lastReply - request.sentAt);
    const text = reply.content.toString();
    if (reply.properties.headers?.['x-redelivered']) outcome.redelivered++;
    if (reply.properties.type === 'error') {
      errors.push(text);
      if (!single) log.warn(` [!] fib(${request.n}): ${text}`);
    } else {
      outcome.answered++;
      log.info(single ? ` [.] Got ${show(text)}` : ` [.] fib(${request.n}) = ${show(text)}`);
    }
    pump();
    settleIfDone();
  };

  const send = (request: Request) => {
    const left = request.deadline - Date.now();
    // #region request
    channel!.sendToQueue(queue, Buffer.from(request.n), {
      correlationId: request.id,
      replyTo,
      // Once we stop waiting, the broker drops the request instead of handing it to a late server.
      expiration: String(Math.max(1, left)),
      headers: { 'x-deadline': request.deadline },
      mandatory: true,
    });
    // #endregion
  };

  const giveUp = (request: Request) => {
    waiting.delete(request.id);
    finished.add(request.id);
    timedOut.push(request.n);
    pump();
    settleIfDone();
  };

  /** Keeps --concurrency requests waiting while there are requests to send. */
  const pump = () => {
    while (channel && todo.length && waiting.size < options.concurrency && !signal.aborted) {
      const n = todo.shift()!;
      const request: Request = {
        n,
        id: randomUUID(),
        deadline: Date.now() + timeoutMs,
        sentAt: performance.now(),
      };
      firstSent ||= request.sentAt;
      request.timer = setTimeout(() => giveUp(request), timeoutMs);
      waiting.set(request.id, request);
      send(request);
    }
  };

  const connection = await connect({ log, recover: true, name: 'lesson 10 rpc-client' });

  /** A channel that receives replies; again after every reconnect, re-sending what had no reply. */
  const open = async () => {
    const next = await connection.channel();
    next.on('return', (returned: ConsumeMessage) => {
      if (returned.properties.correlationId && waiting.has(returned.properties.correlationId))
        rejectDone(
          new CourseError(
            `There is no queue ${queue}: start rpc-server (it declares the queue), then ask again.`,
            {
              code: 'NO_RPC_QUEUE',
            },
          ),
        );
    });
    next.on('close', () => {
      const reason = connection.channelErrors.get(next);
      if (reason) rejectDone(explain(reason));
      if (channel === next) channel = undefined; // the connection is down: wait for 'connect'
    });
    if (options.replyQueue === 'direct') {
      // #region direct-reply-to
      // Direct Reply-to: no queue at all. Consume the pseudo-queue in no-ack mode, on the channel
      // the requests go out on, before the first request: the broker then routes replies here.
      await next.consume('amq.rabbitmq.reply-to', onReply, { noAck: true });
      replyTo = 'amq.rabbitmq.reply-to';
      // #endregion
    } else {
      // #region exclusive-queue
      // A queue of our own: a server-named, exclusive queue, deleted when this connection closes.
      const { queue: callbackQueue } = await next.assertQueue('', { exclusive: true });
      await next.consume(callbackQueue, onReply, { noAck: true });
      replyTo = callbackQueue;
      // #endregion
    }
    channel = next;
  };

  const onReconnect = () => {
    open()
      .then(() => {
        // Replies to the old connection are lost with it: ask again for everything not answered.
        for (const request of waiting.values()) {
          outcome.resent++;
          send(request);
        }
        log.info(
          `Reconnected; re-sent the ${waiting.size} request${waiting.size === 1 ? '' : 's'} with no reply yet.`,
        );
        pump();
      })
      .catch((error) => rejectDone(explain(error)));
  };
  connection.on('connect', onReconnect);
  connection.on('reconnect-failed', (error: Error) => rejectDone(explain(error)));
  const onAbort = () => resolveDone();
  signal.addEventListener('abort', onAbort, { once: true });

  try {
    await open();
    log.info(
      single
        ? ` [x] Requesting fib(${numbers[0]})`
        : numbers.length <= 10
          ? ` [x] Requesting ${numbers.map((n) => `fib(${n})`).join(', ')}`
          : ` [x] Requesting ${numbers.length} Fibonacci numbers, ${options.concurrency} at a time`,
    );
    pump();
    await done;
  } finally {
    signal.removeEventListener('abort', onAbort);
    connection.off('connect', onReconnect);
    for (const request of waiting.values()) clearTimeout(request.timer);
    await connection.close();
  }

  if (!single) {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    log.info(
      ` [✓] ${outcome.answered} of ${numbers.length} answered in ${seconds} s; redelivered to another server: ${outcome.redelivered}; re-sent after a reconnect: ${outcome.resent}; duplicate replies dropped: ${outcome.duplicates}; unknown replies ignored: ${outcome.unknown}.`,
    );
  }
  if (options.latency && latencies.length) {
    const sorted = latencies.sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    const perSecond = latencies.length / ((lastReply - firstSent) / 1000);
    log.info(
      ` [i] ${latencies.length} replies at ${perSecond.toFixed(0)} req/s; reply latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`,
    );
  }
  if (timedOut.length) {
    const names = timedOut
      .slice(0, 5)
      .map((n) => `fib(${n})`)
      .join(', ');
    const more = timedOut.length > 5 ? ` and ${timedOut.length - 5} more` : '';
    throw new CourseError(
      `No reply within ${options.timeoutSeconds} s to ${names}${more}: start rpc-server on ${queue}, then ask again.`,
      { code: 'RPC_TIMEOUT' },
    );
  }
  if (errors.length) {
    throw new CourseError(
      errors.length === 1
        ? errors[0]!
        : `${errors.length} requests got an error reply; the first: ${errors[0]}`,
      { code: 'RPC_ERROR_REPLY' },
    );
  }
  return outcome;
}

runMain(import.meta, program, call);
