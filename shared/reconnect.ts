// After a publisher's connection is lost (the broker closed it, restarted, or its node died):
// connect again, trying every node of AMQP_URL's list in turn, so the program fails over when its
// node is gone, until one answers or the time is up; then one sentence instead of a hang.
// Consumers get the same through keepConsuming; a publisher calls this between one connection and
// the next, and republishes what was not confirmed.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Broker, brokerUrls, connect } from './connection.ts';
import { CourseError } from './errors.ts';
import { maskUrl } from './secrets.ts';

export interface ReconnectOptions {
  /** The nodes to try; default AMQP_URL's list. */
  urls?: string[];
  /** Where `urls` came from, for sentences; default AMQP_URL. */
  setting?: string;
  /** Shown in the management UI's Connections tab. */
  name: string;
  signal: AbortSignal;
  /** Give up after this many seconds without a node answering (a broker restart takes seconds). */
  giveUpSeconds: number;
}

/** Resolves with a fresh connection, or undefined once the signal fired; throws after giving up. */
export async function reconnect(options: ReconnectOptions): Promise<Broker | undefined> {
  const { signal, giveUpSeconds } = options;
  const urls = options.urls ?? brokerUrls();
  const deadline = performance.now() + giveUpSeconds * 1000;
  let lastError: unknown;
  for (let wait = 100; !signal.aborted; wait = Math.min(wait * 2, 2000)) {
    try {
      return await connect({ urls, setting: options.setting, name: options.name, timeoutSeconds: 5 });
    } catch (error) {
      lastError = error;
    }
    if (performance.now() + wait > deadline) {
      throw new CourseError(
        `Lost the connection to RabbitMQ and no node of ${urls.map(maskUrl).join(', ')} answered within ${giveUpSeconds} s (${(lastError as Error).message.replace(/\.$/, '')}).`,
        { code: 'RECONNECT_FAILED', cause: lastError },
      );
    }
    await sleep(wait, undefined, { signal }).catch(() => {});
  }
  return undefined;
}
