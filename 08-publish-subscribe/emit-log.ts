// Emit log: publishes log lines to the fanout exchange "logs", which copies each one to every queue
// bound to it, and exits once RabbitMQ confirms them all.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../shared/connection.ts';
import { checkExchangeName, exchangeFlag, numbered } from '../shared/exchanges.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'emit-log',
  summary: 'Publish a log line to a fanout exchange: every receiver bound to it gets a copy.',
  positionals: 'message',
  flags: {
    exchange: exchangeFlag('logs'),
    count: { type: 'integer', min: 1, default: 1, description: 'send this many numbered lines: … #1, … #2' },
    interval: { type: 'integer', min: 0, default: 0, description: 'milliseconds between two lines' },
  },
  examples: [
    'npm run lesson:08 -- emit-log "info: Hello World!"',
    'npm run lesson:08 -- emit-log --count 10 --interval 500 "warning: disk filling up"',
  ],
});

export async function emitLog(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const exchange = checkExchangeName(options.exchange);
  const text = options.positionals.join(' ') || 'info: Hello World!';
  // Every line is numbered (a header), so a receiver can say how many it missed.
  const run = randomBytes(4).toString('hex');
  const connection = await connect({ log, name: 'lesson 08 emit-log' });
  try {
    const channel = await connection.confirmChannel();
    // #region declare
    // Not durable, as the official tutorial declares it: both can then use the same exchange.
    await channel.assertExchange(exchange, 'fanout', { durable: false });
    // #endregion
    // #region returns
    // mandatory: a line no queue is bound to comes back here, instead of being dropped in silence.
    let unroutable = 0;
    channel.on('return', () => unroutable++);
    // #endregion
    let sent = 0;
    for (let n = 1; n <= options.count && !signal.aborted; n++) {
      const line = options.count > 1 ? `${text} #${n}` : text;
      // #region publish
      // A fanout exchange ignores the routing key: every bound queue gets the line.
      channel.publish(exchange, '', Buffer.from(line), { mandatory: true, ...numbered(run, n) });
      // #endregion
      sent++;
      log.info(` [x] Sent '${line}'`);
      if (options.interval && n < options.count)
        await sleep(options.interval, undefined, { signal }).catch(() => {});
    }
    // The returns arrive before their confirms: once all are confirmed, the count is final.
    await channel.waitForConfirms();
    if (unroutable > 0)
      log.warn(
        ` [!] ${unroutable} of ${sent} line${sent === 1 ? '' : 's'} reached no queue: nothing was bound to ${exchange}, so RabbitMQ dropped ${unroutable === 1 ? 'it' : 'them'} (start receive-logs first).`,
      );
    log.success(` [✓] RabbitMQ confirmed ${sent === 1 ? 'the line' : `all ${sent} lines`}.`);
    return { sent, unroutable };
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, emitLog);
