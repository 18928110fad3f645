// Receive logs direct: binds its own queue to the direct exchange "direct_logs" once per severity
// given, and prints the lines published with one of those routing keys.
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { UsageError } from '../shared/errors.ts';
import { checkExchangeName, checkKey, exchangeFlag, MissedCounter } from '../shared/exchanges.ts';
import { countFlag, defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'receive-logs-direct',
  summary: 'Print the log lines of the severities given (info, warning, error…), until Ctrl+C or --count.',
  positionals: 'severity',
  flags: {
    exchange: exchangeFlag('direct_logs'),
    queue: {
      type: 'string',
      description: 'a durable queue of this name, which keeps lines while you are away',
    },
    count: countFlag('lines'),
  },
  examples: [
    'npm run lesson:09 -- receive-logs-direct warning error',
    'npm run lesson:09 -- receive-logs-direct info warning error',
  ],
});

export async function receiveLogsDirect(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const exchange = checkExchangeName(options.exchange);
  if (options.positionals.length === 0)
    throw new UsageError(
      'Give at least one severity to receive, such as: receive-logs-direct warning error (see --help).',
    );
  const severities = options.positionals.map((s) => checkKey(s, 'severity'));
  const missed = new MissedCounter();
  const connection = await connect({ log, recover: true, name: 'lesson 09 receive-logs-direct' });
  try {
    const outcome = await keepConsuming(
      connection,
      async (channel) => {
        await channel.assertExchange(exchange, 'direct', { durable: false });
        const { queue } = options.queue
          ? await channel.assertQueue(options.queue, {
              durable: true,
              arguments: { 'x-queue-type': 'quorum' },
            })
          : await channel.assertQueue('', { exclusive: true });
        // #region bind
        // One binding per severity: the queue gets a line whose routing key equals any of them.
        for (const severity of severities) await channel.bindQueue(queue, exchange, severity);
        // #endregion
        log.info(` [*] Waiting for ${severities.join(', ')} logs in ${queue}. To exit press CTRL+C`);
        return channel.consume(queue, (message) => {
          if (!message) return; // the broker cancelled us (queue deleted)
          const gap = missed.see(message);
          if (gap > 0) log.warn(` [!] missed ${gap} message${gap === 1 ? '' : 's'}`);
          log.info(` [x] ${message.fields.routingKey}:'${message.content}'`);
          channel.ack(message);
        });
      },
      { count: options.count, signal, log },
    );
    return outcome.handled;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, receiveLogsDirect);
