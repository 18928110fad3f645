// What a screenshot leaves on the learner's broker: nothing. The scenes use the lessons' default
// queues, so they delete them before (they must start empty) and after.
import amqp from 'amqplib';
import { brokerUrls } from '../../shared/connection.ts';

/** Deletes the queues (the lessons' defaults: the screenshots need them empty, and leave nothing). */
export async function deleteQueues(...queues: string[]) {
  const connection = await amqp.connect(brokerUrls()[0]!);
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  for (const queue of queues) await channel.deleteQueue(queue).catch(() => {});
  await connection.close();
}

/** Whether the exchange exists now (a passive declare fails on a missing one and closes the channel). */
export async function exchangeExists(exchange: string): Promise<boolean> {
  const connection = await amqp.connect(brokerUrls()[0]!);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    return await channel.checkExchange(exchange).then(
      () => true,
      () => false,
    );
  } finally {
    await connection.close().catch(() => {});
  }
}

export async function deleteExchange(exchange: string) {
  const connection = await amqp.connect(brokerUrls()[0]!);
  const channel = await connection.createChannel();
  await channel.deleteExchange(exchange);
  await connection.close();
}
