// The status line that long-running programs print every few seconds (lessons 04 and 06). One
// printer for all of them: each period is measured, not assumed, because a busy event loop fires
// timers late, and a rate divided by the nominal period would then overstate itself.
import type { Log } from './logger.ts';

/**
 * Every `seconds`, calls `line` with the seconds that really passed since the last call and logs
 * what it returns (nothing when it returns undefined). Returns the function that stops it.
 */
export function everyPeriod(
  log: Log,
  seconds: number,
  line: (elapsedSeconds: number) => string | undefined,
): () => void {
  let since = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const text = line((now - since) / 1000);
    since = now;
    if (text !== undefined) log.info(text);
  }, seconds * 1000);
  return () => clearInterval(timer);
}
