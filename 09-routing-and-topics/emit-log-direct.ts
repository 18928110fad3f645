// Emit log direct: publishes a log line to the direct exchange "direct_logs" with its severity as the
// routing key; only queues bound with exactly that key get it.
import { randomBytes } from 'node:crypto';
import { connect } from '../shared/connection.ts';
import { checkExchangeName, checkKey, exchangeFlag, numbered } from '../shared/exchanges.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'emit-log-direct',
  summary: 'Publish a log line with its severity as routing key: only receivers bound to it get it.',
  positionals: 'severity message',
  flags: {
    exchange: exchangeFlag('direct_logs'),
    count: { type: 'integer', min: 1, default: 1, description: 'send this many numbered lines: … #1, … #2' },
  },
  examples: [
    'npm run lesson:09 -- emit-log-direct error "Run. Run. Or it will explode."',
    'npm run lesson:09 -- emit-log-direct info "Just saying hello"',
  ],
});

export async function emitLogDirect(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const exchange = checkExchangeName(options.exchange);
  const [first, ...words] = options.positionals;
  const severity = checkKey(first ?? 'info', 'severity');
  const text = words.join(' ') || 'Hello World!';
  const run = randomBytes(4).toString('hex');
  const connection = await connect({ log, name: 'lesson 09 emit-log-direct' });
  try {
    const channel = await connection.confirmChannel();
    await channel.assertExchange(exchange, 'direct', { durable: false });
    let unroutable = 0;
    channel.on('return', () => unroutable++);
    for (let n = 1; n <= options.count; n++) {
      const line = options.count > 1 ? `${text} #${n}` : text;
      // #region publish
      // The routing key is the severity: the exchange sends the line to queues bound with that key.
      channel.publish(exchange, severity, Buffer.from(line), { mandatory: true, ...numbered(run, n) });
      // #endregion
      log.info(` [x] Sent ${severity}:'${line}'`);
    }
    await channel.waitForConfirms();
    if (unroutable > 0)
      log.warn(
        ` [!] ${unroutable} of ${options.count} reached no queue: nothing is bound to ${exchange} with the key '${severity}', so RabbitMQ dropped ${unroutable === 1 ? 'it' : 'them'}.`,
      );
    return { sent: options.count, unroutable };
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, emitLogDirect);
