// The lock that serialises start, stop and kill of a RabbitMQ node (scripts/node-lock.ts): actions
// never overlap, a lock left by a process that is gone (or whose pid was reused) is broken, and a
// live holder makes a waiter fail after its bound with a sentence that names the holder.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { withLock } from './node-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'node-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('two actions under one lock never overlap, and the lock is gone after them', async () => {
  const file = join(dir, 'serial');
  const events: string[] = [];
  const action = (name: string) => async () => {
    events.push(`${name} in`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    events.push(`${name} out`);
  };
  await Promise.all([withLock(file, 'a', action('a')), withLock(file, 'b', action('b'))]);
  expect(events).toEqual(['a in', 'a out', 'b in', 'b out']);
  expect(() => readFileSync(file)).toThrow();
});

test('a lock whose holder is gone, or whose pid now belongs to another process, is broken', async () => {
  const file = join(dir, 'stale');
  writeFileSync(file, '999999999 1'); // no such process
  await expect(withLock(file, 'the start', async () => 'ran')).resolves.toBe('ran');
  writeFileSync(file, `${process.pid} 0`); // this pid, but not the process that took the lock
  await expect(withLock(file, 'the start', async () => 'ran')).resolves.toBe('ran');
});

test('a live holder makes a waiter fail after its bound, naming the holder', async () => {
  const file = join(dir, 'held');
  let release = () => {};
  const held = withLock(file, 'the start', () => new Promise<void>((resolve) => (release = resolve)));
  await expect(withLock(file, 'the stop of course1@localhost', async () => {}, 300)).rejects.toThrow(
    `the stop of course1@localhost waited 0 s for process ${process.pid}, which holds ${file}`,
  );
  release();
  await held;
});
