// Receive logs: binds a queue of its own to the fanout exchange "logs" and prints every line
// published there. Its queue is server-named and exclusive (gone when it stops), unless --queue
// names a durable one that keeps the lines while it is away.
import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { checkExchangeName, exchangeFlag, MissedCounter } from '../shared/exchanges.ts';
import { countFlag, defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'receive-logs',
  summary: 'Print every log line published to a fanout exchange, until Ctrl+C or --count lines.',
  flags: {
    exchange: exchangeFlag('logs'),
    queue: {
      type: 'string',
      description: 'a durable queue of this name, which keeps lines while you are away',
    },
    count: countFlag('lines'),
  },
  examples: ['npm run lesson:08 -- receive-logs', 'npm run lesson:08 -- receive-logs --queue my-logs'],
});

export async function receiveLogs(options: Values<typeof program.flags>, { log, signal }: RunContext) {
  const exchange = checkExchangeName(options.exchange);
  const missed = new MissedCounter();
  let setups = 0;
  let reconnectedAt = 0; // the handled count when the last reconnect happened
  let handled = 0;
  const connection = await connect({ log, recover: true, name: 'lesson 08 receive-logs' });
  try {
    // keepConsuming runs this again after every reconnect: a new exclusive queue, bound again.
    const outcome = await keepConsuming(
      connection,
      async (channel) => {
        if (setups++ > 0) reconnectedAt = handled;
        await channel.assertExchange(exchange, 'fanout', { durable: false });
        // #region queue
        // '' asks the broker for a fresh name (amq.gen-…); exclusive: it dies with this connection.
        const { queue } = options.queue
          ? await channel.assertQueue(options.queue, {
              durable: true,
              arguments: { 'x-queue-type': 'quorum' },
            })
          : await channel.assertQueue('', { exclusive: true });
        // #endregion
        // #region bind
        // The binding: "send what reaches this exchange to this queue too".
        await channel.bindQueue(queue, exchange, '');
        // #endregion
        log.info(` [*] Waiting for logs in ${queue}, bound to ${exchange}. To exit press CTRL+C`);
        return channel.consume(queue, (message) => {
          if (!message) return; // the broker cancelled us (queue deleted)
          const gap = missed.see(message);
          if (gap > 0)
            log.warn(
              ` [!] missed ${gap} message${gap === 1 ? '' : 's'}${handled === reconnectedAt && setups > 1 ? ' while reconnecting' : ''}`,
            );
          log.info(` [x] ${message.content}`);
          handled++;
          channel.ack(message);
        });
      },
      { count: options.count, signal, log },
    );
    if (missed.total > 0)
      log.warn(` [!] ${missed.total} numbered line${missed.total === 1 ? '' : 's'} missed in all.`);
    return { handled: outcome.handled, missed: missed.total };
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, receiveLogs);
