// Running the same work in several worker threads, each with its own connection, with their output
// gathered in the main thread. One worker runs inline: no thread, no copying.
import { once } from 'node:events';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { CourseError, explain } from './errors.ts';

export interface ThreadContext {
  index: number;
  /** Text for stdout; buffered, and sent to the main thread in large chunks. */
  emit(text: string): void;
  /** Fires when the main thread says stop (Ctrl+C, or the work is done elsewhere). */
  signal: AbortSignal;
  /** Tells the main thread this worker finished the whole job (e.g. the consumer's last message). */
  finishedAll(): void;
}

type Work<O, R> = (options: O, context: ThreadContext) => Promise<R>;

const chunkSize = 1 << 16;

/** In a worker thread started by runThreads: runs `work` and reports back. Call at module level. */
export function serveThread<O, R>(name: string, work: Work<O, R>): void {
  if (isMainThread || workerData?.work !== name) return;
  const controller = new AbortController();
  let buffer = '';
  const flush = () => {
    if (buffer) parentPort!.postMessage({ type: 'out', text: buffer });
    buffer = '';
  };
  parentPort!.on('message', (message: { type: string }) => {
    if (message.type === 'stop') controller.abort();
  });
  work(workerData.options as O, {
    index: workerData.index as number,
    emit: (text) => {
      buffer += text;
      if (buffer.length >= chunkSize) flush();
    },
    signal: controller.signal,
    finishedAll: () => parentPort!.postMessage({ type: 'finished-all' }),
  }).then(
    (result) => {
      flush();
      parentPort!.postMessage({ type: 'result', result });
      parentPort!.close();
    },
    (error: unknown) => {
      flush();
      // Errors cross the thread boundary as plain data: send the explained sentence.
      const explained = explain(error);
      parentPort!.postMessage({
        type: 'error',
        message: explained.message,
        code: explained.code,
        exitCode: explained.exitCode,
      });
      parentPort!.close();
    },
  );
}

/** Writes to stdout in large chunks, waiting when the pipe is full (stdout is never the bottleneck). */
export function stdoutSink() {
  let buffer = '';
  const write = async (text: string) => {
    if (!process.stdout.write(text)) await once(process.stdout, 'drain');
  };
  return {
    emit(text: string) {
      buffer += text;
      if (buffer.length >= chunkSize) {
        const full = buffer;
        buffer = '';
        return write(full);
      }
    },
    async flush() {
      const rest = buffer;
      buffer = '';
      if (rest) await write(rest);
    },
    write,
  };
}

/**
 * Runs `work` in `count` workers: threads started from `module` (which calls serveThread), or inline
 * when count is 1. When one worker calls finishedAll, or `signal` fires, every worker is told to stop.
 */
export async function runThreads<O, R>(
  module: string,
  name: string,
  count: number,
  options: (index: number) => O,
  work: Work<O, R>,
  signal: AbortSignal,
): Promise<R[]> {
  const sink = stdoutSink();
  try {
    if (count === 1) {
      const controller = new AbortController();
      const stop = () => controller.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        return [
          await work(options(0), {
            index: 0,
            emit: (text) => void sink.emit(text),
            signal: controller.signal,
            finishedAll: stop,
          }),
        ];
      } finally {
        signal.removeEventListener('abort', stop);
      }
    }
    const entry = new URL('./thread-entry.mjs', import.meta.url);
    const workers = Array.from(
      { length: count },
      (_, index) => new Worker(entry, { workerData: { module, work: name, index, options: options(index) } }),
    );
    const stopAll = () => {
      for (const worker of workers) worker.postMessage({ type: 'stop' });
    };
    signal.addEventListener('abort', stopAll, { once: true });
    try {
      const results = await Promise.all(
        workers.map(
          (worker) =>
            new Promise<R>((resolve, reject) => {
              worker.on(
                'message',
                (message: {
                  type: string;
                  text?: string;
                  result?: R;
                  message?: string;
                  code?: string;
                  exitCode?: number;
                }) => {
                  if (message.type === 'out') void sink.write(message.text!);
                  else if (message.type === 'finished-all') stopAll();
                  else if (message.type === 'result') resolve(message.result!);
                  else if (message.type === 'error') {
                    stopAll();
                    reject(
                      new CourseError(message.message!, { code: message.code!, exitCode: message.exitCode }),
                    );
                  }
                },
              );
              worker.on('error', reject);
            }),
        ),
      );
      return results;
    } finally {
      signal.removeEventListener('abort', stopAll);
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  } finally {
    await sink.flush();
  }
}
