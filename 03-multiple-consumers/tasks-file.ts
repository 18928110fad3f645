// The task list of lesson 03: a CSV file, one task per row (a name, then its dots), checked whole
// before anything is sent. Each problem is one sentence that names the file and the line.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import { CourseError } from '../shared/errors.ts';

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

/** Reads the whole file once: a broken row halfway down must not leave half the tasks sent. */
export async function countTasks(file: string, maxRowBytes: number): Promise<number> {
  let rows = 0;
  for await (const _ of readTasks(file, maxRowBytes)) rows++;
  if (rows === 0) {
    throw new CourseError(
      `The task file ${file} has no tasks: add one per line, a name and its dots (see data/tasks.csv).`,
      { code: 'EMPTY_FILE' },
    );
  }
  return rows;
}
