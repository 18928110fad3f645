// Simulated work for the task lessons: one period per dot in the task's text.
import { setTimeout as sleep } from 'node:timers/promises';

export function dotsIn(task: string): number {
  return task.split('.').length - 1;
}

/**
 * Waits `secondsPerDot` for every dot in the task. A timer, never a busy loop: a spinning loop
 * blocks the event loop, heartbeats stop, and the broker drops the connection. Rejects with an
 * AbortError on Ctrl+C, which leaves the task unacked so the broker gives it to another worker.
 */
export async function simulateWork(
  task: string,
  secondsPerDot: number,
  signal?: AbortSignal,
): Promise<number> {
  const seconds = dotsIn(task) * secondsPerDot;
  await sleep(seconds * 1000, undefined, { signal });
  return seconds;
}
