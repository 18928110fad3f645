// Receive logs topic: binds its own queue to the topic exchange "topic_logs" once per pattern
// given, and prints the lines whose routing key matches one of them (a line matching two comes once).
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { UsageError } from '../shared/errors.ts';
import { checkExchangeName, checkPattern, exchangeFlag, MissedCounter } from '../shared/exchanges.ts';
import { countFlag, defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'receive-logs-topic',
  summary:
    'Print the log lines whose routing key matches a pattern given (kern.*, *.critical, #), until Ctrl+C or --count.',
  positionals: 'pattern',
  flags: {
    exchange: exchangeFlag('topic_logs'),
    queue: {
      type: 'string',
      description: 'a durable queue of this name, which keeps lines while you are away',
    },
    count: countFlag('lines'),
  },
  examples: [
    'npm run lesson:09 -- receive-logs-topic "#"',
    'npm run lesson:09 -- receive-logs-topic "kern.*" "*.critical"',
  ],
});

export async function receiveLogsTopic(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const exchange = checkExchangeName(options.exchange);
  if (options.positionals.length === 0)
    throw new UsageError(
      "Give at least one pattern to receive, such as: receive-logs-topic 'kern.*' '*.critical', or '#' for every line (see --help).",
    );
  const patterns = options.positionals.map(checkPattern);
  const missed = new MissedCounter();
  const connection = await connect({ log, recover: true, name: 'lesson 09 receive-logs-topic' });
  try {
    const outcome = await keepConsuming(
      connection,
      async (channel) => {
        await channel.assertExchange(exchange, 'topic', { durable: false });
        const { queue } = options.queue
          ? await channel.assertQueue(options.queue, {
              durable: true,
              arguments: { 'x-queue-type': 'quorum' },
            })
          : await channel.assertQueue('', { exclusive: true });
        // #region bind
        // One binding per pattern. A line that matches two of them still comes once: it is one queue.
        for (const pattern of patterns) await channel.bindQueue(queue, exchange, pattern);
        // #endregion
        log.info(` [*] Waiting for ${patterns.join(' ')} in ${queue}. To exit press CTRL+C`);
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

runMain(import.meta, program, receiveLogsTopic);
