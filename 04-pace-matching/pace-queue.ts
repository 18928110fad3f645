// The paced queue, declared the same way by all three programs: they must agree on its arguments,
// or RabbitMQ refuses the second declaration (406 PRECONDITION_FAILED).
import type { Channel } from '../shared/connection.ts';
import { UsageError } from '../shared/errors.ts';
import { pace } from './config.ts';

export interface QueueSettings {
  queue: string;
  queueLimit: number;
  overflow: string;
  queueType: string;
}

/** Declares the paced queue and its dead-letter queue, the same way in every program. */
export async function declarePaceQueue(channel: Channel, settings: QueueSettings): Promise<void> {
  if (settings.queueType === 'quorum' && settings.overflow === 'reject-publish-dlx')
    throw new UsageError(
      'Quorum queues do not support --overflow reject-publish-dlx: use reject-publish or drop-head.',
    );
  // Only a quorum queue names its type: a classic queue declared before the flag existed has no
  // x-queue-type, and naming it now would be a different declaration (406) on some versions.
  const type = settings.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
  const deadLetters = pace.deadLetterQueue(settings.queue);
  await channel.assertQueue(deadLetters, { durable: true, arguments: type });
  await channel.assertQueue(settings.queue, {
    durable: true,
    arguments: {
      ...type,
      'x-max-length': settings.queueLimit,
      // Without this the default, drop-head, silently throws the oldest messages away.
      'x-overflow': settings.overflow,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadLetters,
    },
  });
}
