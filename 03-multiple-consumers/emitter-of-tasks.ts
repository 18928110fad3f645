// Emitter of tasks: reads a CSV of tasks and sends one persistent message per row to a durable queue.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { connect, sendToQueue } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { offerAdminPanel } from '../shared/prompts.ts';

export const program = defineProgram({
  name: 'emitter-of-tasks',
  summary:
    'Send one task per row of a CSV file to the task queue, then exit once RabbitMQ confirmed them all.',
  flags: {
    file: {
      type: 'string',
      default: 'data/tasks.csv',
      description: 'the CSV of tasks: a name, then dots (seconds of work)',
    },
    queue: { type: 'string', default: 'task_queue3', env: 'QUEUE', description: 'the queue to send to' },
    admin: { type: 'boolean', description: 'open the RabbitMQ admin panel (--no-admin: do not ask)' },
    maxRowBytes: {
      type: 'integer',
      min: 1,
      default: 131_072,
      description: 'refuse a row larger than this (the frame size)',
    },
  },
  examples: [
    'npm run lesson:03 -- emitter-of-tasks',
    'npm run lesson:03 -- emitter-of-tasks --file data/tasks-short.csv --no-admin',
  ],
});

export interface Task {
  row: number;
  /** What the workers receive: the row number, then the row's fields joined by spaces. */
  text: string;
}

/** Streams the CSV's rows as tasks; throws a CourseError naming the file and line on bad input. */
export async function* readTasks(file: string, maxRowBytes: number): AsyncGenerator<Task> {
  const stats = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new CourseError(
      error.code === 'ENOENT'
        ? `The task file ${file} does not exist: check the --file path (the course ships data/tasks.csv and data/tasks-short.csv).`
        : `The task file ${file} cannot be read (${error.code}): check its permissions.`,
      { code: 'BAD_FILE', cause: error },
    );
  });
  if (stats.isDirectory()) {
    throw new CourseError(`${file} is a folder, not a CSV file: give --file a file such as data/tasks.csv.`, {
      code: 'BAD_FILE',
    });
  }
  // info: each record comes with its own line numbers (the parser reads ahead of us).
  const parser = parse({ skip_empty_lines: true, trim: true, info: true });
  createReadStream(file)
    .on('error', (error) => parser.destroy(error))
    .pipe(parser);
  try {
    let row = 0;
    for await (const { record: fields, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      row++;
      const text = `#${row} ${fields.filter(Boolean).join(' ')}`;
      const bytes = Buffer.byteLength(text);
      if (bytes > maxRowBytes) {
        throw new CourseError(
          `${file} row ${row} (line ${info.lines}) is ${bytes} bytes, more than the ${maxRowBytes} a task may have: a task is a short description, so look for a missing line break there.`,
          { code: 'ROW_TOO_LARGE' },
        );
      }
      yield { row, text };
    }
  } catch (error) {
    if (error instanceof CourseError) throw error;
    throw csvError(file, error as Error & { code?: string; lines?: number });
  }
}

function csvError(file: string, error: Error & { code?: string; lines?: number }): CourseError {
  const reasons: Record<string, string> = {
    CSV_QUOTE_NOT_CLOSED: 'a quote opens a field and is never closed',
    CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: 'this row has a different number of fields than the first row',
    CSV_INVALID_CLOSING_QUOTE: 'a quote closes a field in the middle of it',
    CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'there is text after a closing quote',
  };
  const reason = reasons[error.code ?? ''] ?? error.message;
  return new CourseError(
    `${file} line ${error.lines ?? '?'} is not valid CSV (${reason}): fix that row — every row is a task name and its dots, and a field with a comma needs quotes.`,
    { code: 'BAD_CSV', cause: error },
  );
}

export async function emitTasks(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
  opener?: (url: string) => Promise<unknown>,
): Promise<number> {
  // Read the whole file once before sending anything: a broken row halfway down must not leave
  // half the tasks sent, to be sent again after the fix.
  let rows = 0;
  for await (const _ of readTasks(options.file, options.maxRowBytes)) rows++;
  if (rows === 0) {
    throw new CourseError(
      `The task file ${options.file} has no tasks: add one per line, a name and its dots (see data/tasks.csv).`,
      { code: 'EMPTY_FILE' },
    );
  }
  await offerAdminPanel({ admin: options.admin, log, opener });

  const started = performance.now();
  const broker = await connect({ log, name: 'lesson 03 emitter-of-tasks' });
  let sent = 0;
  try {
    const channel = await broker.confirmChannel();
    await channel.assertQueue(options.queue, { durable: true });
    for await (const task of readTasks(options.file, options.maxRowBytes)) {
      if (signal.aborted) break;
      await sendToQueue(channel, options.queue, Buffer.from(task.text), { persistent: true });
      sent++;
      log.info(` [x] Sent ${task.text}`);
    }
    await channel.waitForConfirms();
  } finally {
    await broker.close();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (sent < rows)
    log.warn(
      ` [!] Sent ${sent} of ${rows} rows from ${options.file} before Ctrl+C; RabbitMQ confirmed all ${sent}.`,
    );
  else
    log.success(
      ` [✓] Sent ${sent} rows from ${options.file} to ${options.queue} in ${seconds} s; RabbitMQ confirmed them all.`,
    );
  return sent;
}

runMain(import.meta, program, emitTasks);
