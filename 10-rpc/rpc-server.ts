// RPC server: takes requests from rpc_queue, computes the Fibonacci number asked for, sends the
// answer to the request's replyTo with its correlationId, and acks only after replying.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Channel, ConsumeMessage } from 'amqplib';
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { countFlag, defineProgram, nameFlag, queueFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

/** The largest n the server accepts by default; --max-n can lower it (or raise it to HARD_MAX_N). */
export const MAX_N = 100_000;
/** fib(1,000,000) has 208,988 digits and takes seconds: the bound of --max-n. */
export const HARD_MAX_N = 1_000_000;
/** Additions between two yields to the event loop (see the README's pitfall on heartbeats). */
const STEPS_PER_SLICE = 2_000;

export const program = defineProgram({
  name: 'rpc-server',
  summary: `Answer fib(n) requests from the RPC queue, exactly (BigInt) for 0 ≤ n ≤ --max-n (a JavaScript Number is wrong past fib(78)).`,
  flags: {
    queue: queueFlag('rpc_queue', 'the queue to take requests from'),
    queueType: {
      type: 'string',
      default: 'classic',
      choices: ['classic', 'quorum'],
      description: 'the queue type, if the queue does not exist yet',
    },
    name: nameFlag('shown in every line, to tell servers apart'),
    prefetch: {
      type: 'integer',
      min: 1,
      default: 1,
      description: 'requests to hold at once (fair sharing between servers)',
    },
    maxN: {
      type: 'integer',
      min: 0,
      max: HARD_MAX_N,
      default: MAX_N,
      description: 'the largest n to compute; larger gets an error reply',
    },
    delayMs: {
      type: 'integer',
      min: 0,
      default: 0,
      description: 'extra milliseconds per request (to watch a server die mid-request)',
    },
    blocking: {
      type: 'boolean',
      default: false,
      description: 'compute without yielding to the event loop (the pitfall: see the README)',
    },
    crashAfterReply: {
      type: 'boolean',
      default: false,
      description: 'die (SIGKILL) after the first reply, before its ack (see the README)',
    },
    count: countFlag('requests'),
  },
  examples: ['npm run lesson:10 -- rpc-server', 'npm run lesson:10 -- rpc-server --name A --prefetch 10'],
});

/** fib(n) exactly. Yields to the event loop every few thousand additions, so heartbeats still go out. */
export async function fibonacci(n: number, blocking = false): Promise<bigint> {
  let [a, b] = [0n, 1n];
  for (let i = 0; i < n; i++) {
    [a, b] = [b, a + b];
    if (!blocking && i % STEPS_PER_SLICE === STEPS_PER_SLICE - 1) await yieldToEventLoop();
  }
  return a;
}

/**
 * A Direct Reply-to address is no queue: RabbitMQ 3.x returns every mandatory reply to one as
 * NO_ROUTE, delivered or not, so a server cannot learn that way whether its client is still there.
 */
const isDirectReplyTo = (replyTo: string) => replyTo.startsWith('amq.rabbitmq.reply-to');

/** What a request asks for, or the sentence of its error reply. */
export function parseRequest(body: string, maxN: number): { n: number } | { error: string } {
  if (!/^\d+$/.test(body.trim()))
    return { error: `'${body.slice(0, 40)}' is not a whole number n ≥ 0: send n as decimal digits.` };
  const n = Number(body.trim());
  if (n > maxN)
    return {
      error: `fib(${body.trim().slice(0, 40)}) is beyond this server's bound: it computes fib(n) for n ≤ ${maxN}.`,
    };
  return { n };
}

export async function serve(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const { name, queue } = options;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const answer = async (channel: Channel, request: ConsumeMessage) => {
    const { replyTo, correlationId, headers } = request.properties;
    const body = request.content.toString();
    const redelivered = request.fields.redelivered;
    // The client said when it stops waiting: computing after that is wasted work.
    const deadline = Number(headers?.['x-deadline']);
    if (deadline && Date.now() > deadline) {
      log.info(` [-] ${name} skipped fib(${body}): its client stopped waiting`);
      channel.ack(request);
      return;
    }
    const parsed = parseRequest(body, options.maxN);
    log.info(` [.] ${name} fib(${body})${redelivered ? ' (redelivered)' : ''}`);
    if (options.delayMs) await sleep(options.delayMs);
    // #region reply
    const ok = 'n' in parsed;
    const content = ok ? String(await fibonacci(parsed.n, options.blocking)) : parsed.error;
    // To the client's address, with its correlation id: that is how it knows which request this answers.
    channel.publish('', replyTo, Buffer.from(content), {
      correlationId,
      type: ok ? 'result' : 'error',
      headers: { 'x-redelivered': redelivered },
      // If its callback queue is gone (so is its client), the broker returns the reply: we say so.
      mandatory: !isDirectReplyTo(replyTo),
    });
    // #endregion
    if (options.crashAfterReply) {
      log.warn(` [!] ${name} dies after replying, before acking (--crash-after-reply)`);
      await sleep(200); // the reply is on its way; the ack below never leaves
      process.kill(process.pid, 'SIGKILL');
    }
    // #region ack
    // Only now: if we die before this line, the broker gives the request to another server.
    channel.ack(request);
    // #endregion
    if (!ok) log.warn(` [!] ${name} error reply: ${parsed.error}`);
  };

  const setup = async (channel: Channel) => {
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': options.queueType } });
    // Fair sharing: a server holds at most --prefetch requests it has not answered.
    await channel.prefetch(options.prefetch);
    channel.on('return', (reply: ConsumeMessage) =>
      log.warn(
        ` [!] ${name}: the reply to ${reply.properties.correlationId} could not be delivered (its client is gone): dropped.`,
      ),
    );
    log.info(
      ` [x] ${name} awaiting RPC requests on ${queue} (fib(n) for n ≤ ${options.maxN}). To exit press CTRL+C`,
    );
    return channel.consume(queue, (request) => (request ? answer(channel, request) : undefined), {
      noAck: false,
    });
  };

  const connection = await connect({ log, recover: true, name: `lesson 10 rpc-server ${name}` });
  try {
    return (await keepConsuming(connection, setup, { count: options.count, signal, log })).handled;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, serve);
