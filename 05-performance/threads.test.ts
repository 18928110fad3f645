// The worker-thread runner's promises: a failing worker stops the others the way Ctrl+C does (their
// last rows still arrive), and a worker that ends without a result is reported, never waited for.
import { PassThrough } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { runWorkers } from './threads.ts';

function collect() {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stdout, text: () => text };
}

const log = { warn: () => {} };

describe('worker threads', () => {
  test('when one worker fails, the others stop cleanly: their last rows reach stdout, then the failure is reported', async () => {
    const out = collect();
    const run = runWorkers({
      module: new URL('../test/scenes/05-performance.failing-worker.ts', import.meta.url),
      count: 2,
      options: () => ({}),
      signal: new AbortController().signal,
      log,
      stdout: out.stdout,
    });
    await expect(run).rejects.toThrow('worker 0 failed on purpose');
    expect(out.text()).toMatch(/^row-1-1\n/);
    expect(out.text()).toMatch(/tail-1\n$/);
  });

  test('a worker that ends without a result is reported in one sentence; the main thread does not hang', async () => {
    const run = runWorkers({
      module: new URL('../test/scenes/05-performance.exiting-worker.ts', import.meta.url),
      count: 2,
      options: () => ({}),
      signal: new AbortController().signal,
      log,
      stdout: collect().stdout,
    });
    await expect(run).rejects.toThrow(/Worker 0 stopped \(exit code 3\) without reporting a result/);
  });
});
