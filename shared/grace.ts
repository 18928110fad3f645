// After Ctrl+C a program gives what is in flight a few seconds to be answered, then ends: a broker
// that stopped answering (a memory alarm, a quorum queue without a majority) must not keep it running.

/** Settles `seconds` after `signal` aborts (never, if it does not); its timer keeps nothing alive. */
export function afterAbort(signal: AbortSignal, seconds: number): Promise<void> {
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => setTimeout(resolve, seconds * 1000).unref(), { once: true }),
  );
}
