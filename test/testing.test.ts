// The test kit's own promise: a test that waits for one line of a program that prints a great deal
// (lesson 05's producer writes a CSV row per message) sees it at once, however long the output.
import { spawn } from 'node:child_process';
import { expect, test } from '@jest/globals';
import { Running, within } from './testing.ts';

/** A program that prints `rows` CSV rows, then one line on stderr, then a second. */
function chatty(rows: number): Running {
  const script = `
    const rows = Array.from({ length: ${rows} }, (_, i) => 'a-0-' + i + ',1795436262672.808,1795436262711.334').join('\\n');
    process.stdout.write(rows + '\\n', () => {
      process.stderr.write('reconnected to amqp://localhost\\n');
      process.stderr.write('reconnected to amqp://localhost again\\n');
    });`;
  return new Running(spawn(process.execPath, ['-e', script]));
}

test('waiting for a line while 60,000 rows arrive costs time in proportion to the rows, not their square', async () => {
  const program = chatty(60_000);
  const started = performance.now();
  // Rescanning every line for every new line took minutes here (1.8 billion pattern tests).
  await within(20, program, program.waitFor(/reconnected to/, 2));
  const ms = performance.now() - started;
  process.stderr.write(`60,000 rows, then the second matching line: seen after ${Math.round(ms)} ms\n`);
  expect(program.matching(/reconnected to/)).toHaveLength(2);
  await program.exited;
});

test('a line already printed is found without waiting', async () => {
  const program = chatty(10);
  await program.exited;
  await expect(program.waitFor(/again$/)).resolves.toBe('reconnected to amqp://localhost again');
});
