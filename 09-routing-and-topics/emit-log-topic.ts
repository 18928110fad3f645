// Emit log topic: publishes a log line to the topic exchange "topic_logs" with a routing key of
// dot-separated words (<facility>.<severity>, say); queues get it when one of their patterns matches.
import { randomBytes } from 'node:crypto';
import { connect } from '../shared/connection.ts';
import { checkExchangeName, checkKey, exchangeFlag, numbered } from '../shared/exchanges.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'emit-log-topic',
  summary:
    'Publish a log line with a routing key of words (kern.critical): receivers whose pattern matches get it.',
  positionals: 'routing.key message',
  flags: {
    exchange: exchangeFlag('topic_logs'),
    count: { type: 'integer', min: 1, default: 1, description: 'send this many numbered lines: … #1, … #2' },
  },
  examples: [
    'npm run lesson:09 -- emit-log-topic kern.critical "A critical kernel error"',
    'npm run lesson:09 -- emit-log-topic cron.info "Backup finished"',
  ],
});

export async function emitLogTopic(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const exchange = checkExchangeName(options.exchange);
  const [first, ...words] = options.positionals;
  const key = checkKey(first ?? 'anonymous.info', 'routing key');
  const text = words.join(' ') || 'Hello World!';
  const run = randomBytes(4).toString('hex');
  const connection = await connect({ log, name: 'lesson 09 emit-log-topic' });
  try {
    const channel = await connection.confirmChannel();
    await channel.assertExchange(exchange, 'topic', { durable: false });
    let unroutable = 0;
    channel.on('return', () => unroutable++);
    for (let n = 1; n <= options.count; n++) {
      const line = options.count > 1 ? `${text} #${n}` : text;
      // #region publish
      // The routing key's words are matched against each binding's pattern (* one word, # any number).
      channel.publish(exchange, key, Buffer.from(line), { mandatory: true, ...numbered(run, n) });
      // #endregion
      log.info(` [x] Sent ${key}:'${line}'`);
    }
    await channel.waitForConfirms();
    if (unroutable > 0)
      log.warn(
        ` [!] ${unroutable} of ${options.count} reached no queue: no pattern bound to ${exchange} matches '${key}', so RabbitMQ dropped ${unroutable === 1 ? 'it' : 'them'}.`,
      );
    return { sent: options.count, unroutable };
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, emitLogTopic);
