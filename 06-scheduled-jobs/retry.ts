// Reconnecting for a bounded time: a long-running program whose service went away tries again
// every second, and after `seconds` gives up with the last error (one sentence), never hangs.
import { setTimeout as sleep } from 'node:timers/promises';

export async function retryFor<T>(
  seconds: number,
  signal: AbortSignal,
  attempt: (remainingSeconds: number) => Promise<T>,
  worthRetrying: (error: unknown) => boolean,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await attempt(Math.max(1, (deadline - Date.now()) / 1000));
    } catch (error) {
      if (!worthRetrying(error) || signal.aborted || Date.now() + 1000 > deadline) throw error;
      await sleep(1000, undefined, { signal }).catch(() => {});
    }
  }
}
