// Why a broker connection ended, for the producer's log line before it reconnects.
import type { Broker } from '../shared/connection.ts';

/** Why a broker connection ended: resolves on its 'close' (the reason, if amqplib gave one). */
export function whenClosed(broker: Broker): Promise<string> {
  return new Promise((resolve) => {
    let reason = 'closed';
    broker.on('connection-error', (error: Error) => {
      reason = error.message;
    });
    broker.once('close', (error?: Error) => resolve(error?.message ?? reason));
  });
}
