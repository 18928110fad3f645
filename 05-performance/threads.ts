// Worker threads for the producer and the consumer. Each kind of worker is a module whose default
// export does one worker's share (producer-worker.ts, consumer-worker.ts); the main thread starts
// it by URL, writes the CSV rows it sends to stdout, and, when one worker fails, tells the others to
// stop the way Ctrl+C does, so they still wait for their confirms and send their last rows.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { CourseError, explain } from '../shared/errors.ts';
import type { Log } from '../shared/logger.ts';

/** What a worker gets besides its options. */
export interface WorkerContext {
  index: number;
  output: Output;
  /** Fires when the main thread says stop: Ctrl+C, another worker failed, or the work is done. */
  signal: AbortSignal;
  /** Tells the main thread this worker finished the whole job (the consumer's last message). */
  finishedAll(): void;
  /** A line for the learner (stderr and the log), from any thread. */
  warn(text: string): void;
}

/** CSV text on its way to stdout, in large chunks, with the pipe's back-pressure passed on. */
export interface Output {
  write(text: string): void;
  /** Sends what is buffered now (a consumer does this before it acks). */
  flush(): void;
  /** True while two chunks wait for a full pipe: the writer should `await ready()`. */
  readonly full: boolean;
  ready(): Promise<void>;
}

export type WorkerFunction<O, R> = (options: O, context: WorkerContext) => Promise<R>;

/** Main thread → worker. */
type ToWorker = { type: 'stop' } | { type: 'written' };
/** Worker → main thread. */
type FromWorker<R> =
  | { type: 'rows'; text: string }
  | { type: 'warn'; text: string }
  | { type: 'finished-all' }
  | { type: 'result'; result: R }
  | { type: 'error'; message: string; code: string; exitCode: number };

const chunkSize = 1 << 16;

/** Buffers text and hands it to `send` in chunks; `full` while two sends are unfinished. */
function output(send: (text: string) => Promise<void>): Output {
  let buffer = '';
  const unfinished = new Set<Promise<void>>();
  const flush = () => {
    if (!buffer) return;
    const sent = send(buffer);
    buffer = '';
    unfinished.add(sent);
    void sent.finally(() => unfinished.delete(sent));
  };
  return {
    write(text) {
      buffer += text;
      if (buffer.length >= chunkSize) flush();
    },
    flush,
    get full() {
      return unfinished.size >= 2;
    },
    async ready() {
      while (unfinished.size >= 2) await Promise.race(unfinished);
    },
  };
}

/** Writes to a stream and resolves once it can take more (the 'drain' after a full pipe). */
function streamWriter(stream: Writable) {
  return async (text: string) => {
    if (!stream.write(text)) await once(stream, 'drain');
  };
}

/** In a worker thread: imports the worker module, runs its default export, reports back. */
export async function serve(): Promise<void> {
  const port = parentPort!;
  const post = (message: FromWorker<unknown>) => port.postMessage(message);
  const controller = new AbortController();
  const written: (() => void)[] = [];
  port.on('message', (message: ToWorker) => {
    if (message.type === 'stop') controller.abort();
    else written.shift()?.();
  });
  const out = output(
    (text) =>
      new Promise<void>((resolve) => {
        written.push(resolve);
        post({ type: 'rows', text });
      }),
  );
  try {
    const work = (await import(workerData.module as string)).default as WorkerFunction<unknown, unknown>;
    const result = await work(workerData.options, {
      index: workerData.index as number,
      output: out,
      signal: controller.signal,
      finishedAll: () => post({ type: 'finished-all' }),
      warn: (text) => post({ type: 'warn', text }),
    });
    out.flush();
    post({ type: 'result', result });
  } catch (error) {
    out.flush();
    // Errors cross the thread boundary as plain data: send the explained sentence.
    const { message, code, exitCode } = explain(error);
    post({ type: 'error', message, code, exitCode });
  }
  port.close();
}

// A worker thread starts without the TypeScript loader the main thread has: register it, then serve.
const tsxApi =
  import.meta.resolve?.('tsx/esm/api') ??
  pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
const bootstrap = `
import { register } from ${JSON.stringify(tsxApi)};
register();
const { serve } = await import(${JSON.stringify(import.meta.url)});
await serve();
`;

export interface RunOptions<O> {
  /** The worker module (its default export is a WorkerFunction). */
  module: URL;
  count: number;
  options: (index: number) => O;
  signal: AbortSignal;
  log: Pick<Log, 'warn'>;
  /** Where the CSV rows go (default stdout). */
  stdout?: Writable;
}

/**
 * Runs `count` workers of `module` and returns their results in order. One worker runs inline (no
 * thread, no copying). When one calls finishedAll, or `signal` fires, or one fails, every other is
 * told to stop and is waited for; then the first failure, if any, is thrown.
 */
export async function runWorkers<O, R>(run: RunOptions<O>): Promise<R[]> {
  const write = streamWriter(run.stdout ?? process.stdout);
  if (run.count === 1) {
    const work = (await import(run.module.href)).default as WorkerFunction<O, R>;
    const controller = new AbortController();
    const stop = () => controller.abort();
    run.signal.addEventListener('abort', stop, { once: true });
    const out = output(write);
    try {
      return [
        await work(run.options(0), {
          index: 0,
          output: out,
          signal: controller.signal,
          finishedAll: stop,
          warn: (text) => run.log.warn(text),
        }),
      ];
    } finally {
      run.signal.removeEventListener('abort', stop);
      out.flush();
      await out.ready();
      await write('');
    }
  }

  const boot = new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
  const workers = Array.from(
    { length: run.count },
    (_, index) =>
      new Worker(boot, { workerData: { module: run.module.href, index, options: run.options(index) } }),
  );
  const stopAll = () => {
    for (const worker of workers) worker.postMessage({ type: 'stop' } satisfies ToWorker);
  };
  run.signal.addEventListener('abort', stopAll, { once: true });
  const writes: Promise<void>[] = [];
  const outcomes = await Promise.allSettled(
    workers.map(
      (worker, index) =>
        new Promise<R>((resolve, reject) => {
          let settled = false;
          const fail = (error: Error) => {
            if (settled) return;
            settled = true;
            stopAll(); // the others stop as on Ctrl+C: confirms awaited, rows sent
            reject(error);
          };
          worker.on('message', (message: FromWorker<R>) => {
            if (message.type === 'rows') {
              const done = write(message.text).then(() =>
                worker.postMessage({ type: 'written' } satisfies ToWorker),
              );
              writes.push(done);
            } else if (message.type === 'warn') run.log.warn(message.text);
            else if (message.type === 'finished-all') stopAll();
            else if (message.type === 'result') {
              settled = true;
              resolve(message.result);
            } else fail(new CourseError(message.message, { code: message.code, exitCode: message.exitCode }));
          });
          worker.on('error', (error) => fail(explain(error)));
          // Settles nothing if a result or an error came first; otherwise the worker died silently.
          worker.on('exit', (code) =>
            fail(
              new CourseError(
                `Worker ${index} stopped (exit code ${code}) without reporting a result, so its share of the work is unaccounted for: run again.`,
                { code: 'WORKER_EXIT' },
              ),
            ),
          );
        }),
    ),
  );
  run.signal.removeEventListener('abort', stopAll);
  await Promise.all(writes);
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<R>).value);
}
