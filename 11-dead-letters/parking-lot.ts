// Parking lot: lists the tasks that could not be processed (why, how many attempts, when they
// failed), and with --replay sends them back to the work queue once the cause is fixed.
import type { ConfirmChannel, GetMessage } from 'amqplib';
import { connect } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { defineProgram, queueFlag, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { declareParking, names } from './topology.ts';

export const program = defineProgram({
  name: 'parking-lot',
  summary:
    'List the parked tasks (id, reason, attempts, first and last failure); --replay sends them back to work.',
  flags: {
    queue: queueFlag('dl_tasks', 'the work queue whose parking lot to read'),
    replay: { type: 'boolean', default: false, description: 'send every parked task back to the work queue' },
  },
  examples: ['npm run lesson:11 -- parking-lot', 'npm run lesson:11 -- parking-lot --replay'],
});

const when = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : '?');

/** One line for a parked task: parked by a worker (x-reason) or dead-lettered by the broker (x-death). */
export function describe(message: GetMessage): string {
  const { messageId, headers = {} } = message.properties;
  const task = message.content.toString();
  const death = (
    headers['x-death'] as { reason?: string; queue?: string; count?: number }[] | undefined
  )?.[0];
  const reason =
    typeof headers['x-reason'] === 'string'
      ? headers['x-reason']
      : `dead-lettered by RabbitMQ from ${death?.queue ?? '?'}, reason ${death?.reason ?? '?'}`;
  const attempts = headers['x-attempts'] === undefined ? '' : `; ${headers['x-attempts']} attempts`;
  const failures =
    headers['x-first-failure'] !== undefined
      ? `; first failure ${when(headers['x-first-failure'])}, last ${when(headers['x-last-failure'])}`
      : '';
  return ` [-] ${messageId ?? '(no id)'} '${task}': ${reason}${attempts}${failures}`;
}

export async function parkingLot(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const { queue } = options;
  const { parking } = names(queue);
  const connection = await connect({ log, name: 'lesson 11 parking-lot' });
  try {
    const channel: ConfirmChannel = await connection.confirmChannel();
    // Only the lot: the work queue may carry a delivery limit or a length we do not know.
    await declareParking(channel, queue);
    // #region browse
    // Taken, not acked: each stays parked until we ack it (after its replay) or give it back.
    const parked: GetMessage[] = [];
    for (let message = await channel.get(parking); message; message = await channel.get(parking))
      parked.push(message);
    // #endregion
    for (const message of parked) log.info(describe(message));
    if (!options.replay) {
      for (const message of parked) channel.nack(message, false, true);
      log.success(
        parked.length ? ` [✓] ${parked.length} parked in ${parking}.` : `Nothing is parked in ${parking}.`,
      );
      return parked.length;
    }
    if (!parked.length)
      throw new CourseError(`Nothing is parked in ${parking}: there is nothing to replay.`, {
        code: 'NOTHING_PARKED',
      });
    // #region replay
    for (const message of parked) {
      const { messageId, headers = {} } = message.properties;
      // A fresh start: no attempts so far; what it went through before is kept under x-replayed.
      channel.sendToQueue(queue, message.content, {
        persistent: true,
        messageId,
        headers: { 'x-replayed': Number(headers['x-replayed'] ?? 0) + 1 },
      });
    }
    await channel.waitForConfirms(); // back in the work queue for sure: only now leave the lot
    for (const message of parked) channel.ack(message);
    // #endregion
    log.success(` [✓] Replayed ${parked.length} task${parked.length === 1 ? '' : 's'} to ${queue}.`);
    return parked.length;
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, parkingLot);
