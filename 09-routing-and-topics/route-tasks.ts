// Route tasks: reads lesson 03's task list (data/tasks.csv: a name, then its dots) and publishes each
// row to the direct exchange "tasks_by_kind" with its kind as the routing key: quick tasks and long
// ones land in their own durable queue, for workers of their own (lesson 02's worker --queue …).
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { connect } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { checkExchangeName, exchangeFlag } from '../shared/exchanges.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';

export const program = defineProgram({
  name: 'route-tasks',
  summary: 'Send the rows of a task CSV to one queue per kind (quick, long), routed by their dots column.',
  flags: {
    file: { type: 'string', default: 'data/tasks.csv', description: 'the CSV of tasks: a name, then dots' },
    exchange: exchangeFlag('tasks_by_kind'),
    longFrom: {
      type: 'integer',
      min: 1,
      default: 3,
      description: 'a task with this many dots or more is long',
    },
    queuePrefix: {
      type: 'string',
      default: 'tasks',
      description: 'the queues are <prefix>.quick and <prefix>.long',
    },
  },
  examples: [
    'npm run lesson:09 -- route-tasks',
    'npm run lesson:02 -- worker --queue tasks.long --count 9 --seconds-per-dot 0.1',
  ],
});

const kinds = ['quick', 'long'] as const;

export async function routeTasks(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const exchange = checkExchangeName(options.exchange);
  const text = await readFile(options.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CourseError(
      `The task file ${options.file} cannot be read (${error.code}): check the --file path (the course ships data/tasks.csv).`,
      { code: 'BAD_FILE', cause: error },
    );
  });
  const rows = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  const connection = await connect({ log, name: 'lesson 09 route-tasks' });
  try {
    const channel = await connection.confirmChannel();
    // #region topology
    // Tasks must not be lost: a durable exchange, durable queues, persistent messages. The router
    // declares and binds the queues itself, so no task reaches the exchange before its queue exists.
    await channel.assertExchange(exchange, 'direct', { durable: true });
    for (const kind of kinds) {
      const queue = `${options.queuePrefix}.${kind}`;
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.bindQueue(queue, exchange, kind);
    }
    // #endregion
    let unroutable = 0;
    channel.on('return', () => unroutable++);
    const sent = { quick: 0, long: 0 };
    for (const [n, [name = '', dots = ''] = []] of rows.entries()) {
      // #region route
      // The routing key comes from a column: the number of dots says how long the task is.
      const kind = dots.length >= options.longFrom ? 'long' : 'quick';
      channel.publish(exchange, kind, Buffer.from(`#${n + 1} ${name} ${dots}`), {
        persistent: true,
        mandatory: true,
      });
      // #endregion
      sent[kind]++;
      log.info(` [x] Routed '${name}' (${dots.length} dot${dots.length === 1 ? '' : 's'}) to ${kind}`);
    }
    await channel.waitForConfirms();
    if (unroutable > 0)
      throw new CourseError(
        `${unroutable} tasks reached no queue (a binding of ${exchange} was removed while sending): run route-tasks again.`,
        { code: 'UNROUTABLE' },
      );
    log.success(
      ` [✓] RabbitMQ confirmed all ${rows.length} tasks: ${sent.quick} to ${options.queuePrefix}.quick, ${sent.long} to ${options.queuePrefix}.long.`,
    );
    return sent;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, routeTasks);
