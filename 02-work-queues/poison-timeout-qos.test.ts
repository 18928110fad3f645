// RabbitMQ 3.10 and 4.x differ where a work queue meets trouble: a poison message, a consumer that
// holds a task too long, global QoS. Each test asserts the behaviour of the broker it talks to
// (npm test: the main 3.10; npm run test:rabbitmq4: 4.x), read from the version it announces.
import { describe, expect, test } from '@jest/globals';
import amqp, { type Channel, type ConsumeMessage } from 'amqplib';
import { brokerUrls } from '../shared/connection.ts';
import { atLeast, brokerVersion } from '../test/broker-version.ts';
import { uniqueName, useTestConnection } from '../test/testing.ts';

const rabbit = useTestConnection();
const quorum = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
type Headers = Record<string, unknown> | undefined;

/** Resolves with the first message that reaches `queue`. */
async function firstMessage(channel: Channel, queue: string): Promise<ConsumeMessage> {
  return new Promise((resolve) => {
    void channel.consume(queue, (message) => message && resolve(message), { noAck: true });
  });
}

/**
 * A consumer that fails every delivery of the one message in `queue` and hands it back with
 * `basic.reject` or `basic.nack` (requeue: true), until `stopAfter` deliveries.
 */
async function poisonLoop(queue: string, how: 'reject' | 'nack', stopAfter: number) {
  const channel = await rabbit.connection.createChannel();
  const deliveries: Headers[] = [];
  let tag = '';
  const reached = new Promise<void>((resolve) => {
    void channel
      .consume(queue, (message) => {
        if (!message) return;
        deliveries.push(message.properties.headers);
        if (how === 'reject') channel.reject(message, true);
        else channel.nack(message, false, true);
        if (deliveries.length === stopAfter) resolve();
      })
      .then((reply) => {
        tag = reply.consumerTag;
      });
  });
  return { channel, deliveries, reached, stop: () => channel.cancel(tag) };
}

async function poisonQueue(withDeadLetterQueue: boolean): Promise<{ queue: string; dead: string }> {
  const queue = rabbit.own(uniqueName('poison'));
  const dead = rabbit.own(`${queue}.dead`);
  await rabbit.channel.assertQueue(dead, { durable: true });
  const deadLetter = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead };
  await rabbit.channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', ...(withDeadLetterQueue ? deadLetter : {}) },
  });
  rabbit.channel.sendToQueue(queue, Buffer.from('a task that always fails'), { persistent: true });
  await rabbit.channel.waitForConfirms();
  return { queue, dead };
}

describe('RabbitMQ 3.10 and 4.x: poison messages in a quorum queue', () => {
  test('a message always rejected and requeued: 4.x dead-letters it after 21 deliveries (delivery limit 20), 3.10 has no limit', async () => {
    const version = brokerVersion(rabbit.connection);
    const { queue, dead } = await poisonQueue(true);
    const deadChannel = await rabbit.connection.createChannel();
    const deadLettered = firstMessage(deadChannel, dead);
    const loop = await poisonLoop(queue, 'reject', version.major >= 4 ? 21 : 30);
    await loop.reached;
    if (version.major >= 4) {
      const message = await deadLettered;
      expect(loop.deliveries).toHaveLength(21);
      // The 21st delivery carried x-delivery-count 20: the next failure went past the limit.
      expect(loop.deliveries.at(-1)?.['x-delivery-count']).toBe(20);
      const deaths = message.properties.headers?.['x-death'] as { reason: string }[] | undefined;
      expect(deaths?.[0]?.reason).toBe('delivery_limit');
    } else {
      // 30 deliveries and counting: nothing stopped it at 21, and nothing reached the dead-letter queue.
      expect(loop.deliveries.at(-1)?.['x-delivery-count']).toBe(29);
      expect((await rabbit.channel.checkQueue(dead)).messageCount).toBe(0);
    }
    await loop.stop();
    await loop.channel.close();
    await deadChannel.close();
  });

  test('without a dead-letter queue, 4.x drops the poison message after its 21st delivery; 3.10 keeps it', async () => {
    const version = brokerVersion(rabbit.connection);
    const { queue } = await poisonQueue(false);
    const loop = await poisonLoop(queue, 'reject', 21);
    await loop.reached;
    await loop.stop();
    // A confirmed marker published after the consumer is gone lands behind every reject in the
    // queue's log, so the count below includes the poison message exactly when it was kept.
    rabbit.channel.sendToQueue(queue, Buffer.from('marker'));
    await rabbit.channel.waitForConfirms();
    const { messageCount } = await rabbit.channel.checkQueue(queue);
    if (version.major >= 4) {
      expect(loop.deliveries).toHaveLength(21);
      expect(messageCount).toBe(1);
    } else {
      // Redeliveries that arrived before the cancel took effect were rejected too: at least 21.
      expect(loop.deliveries.length).toBeGreaterThanOrEqual(21);
      expect(messageCount).toBe(2);
    }
    await loop.channel.close();
  });

  test('basic.nack is not basic.reject on 4.3: a nacked message does not count towards the delivery limit', async () => {
    const version = brokerVersion(rabbit.connection);
    const { queue, dead } = await poisonQueue(true);
    const deadChannel = await rabbit.connection.createChannel();
    const deadLettered = firstMessage(deadChannel, dead);
    // 4.0-4.2 counted every return; 4.3 counts only failures (reject, a channel closed with the
    // message unacked), and keeps the number of returns in x-acquired-count instead.
    const limited = version.major >= 4 && !atLeast(version, 4, 3);
    const loop = await poisonLoop(queue, 'nack', limited ? 21 : 30);
    await loop.reached;
    if (limited) {
      await deadLettered;
      expect(loop.deliveries).toHaveLength(21);
    } else if (version.major >= 4) {
      expect(loop.deliveries.at(-1)?.['x-delivery-count']).toBeUndefined();
      expect(loop.deliveries.at(-1)?.['x-acquired-count']).toBe(29);
      expect((await rabbit.channel.checkQueue(dead)).messageCount).toBe(0);
    } else {
      expect(loop.deliveries.at(-1)?.['x-delivery-count']).toBe(29);
      expect((await rabbit.channel.checkQueue(dead)).messageCount).toBe(0);
    }
    await loop.stop();
    await loop.channel.close();
    await deadChannel.close();
  });
});

describe('RabbitMQ 3.10 and 4.x: a consumer that holds a delivery too long', () => {
  test('x-consumer-timeout: 4.x cancels the consumer (the callback gets null) and keeps it listed until it is cancelled; 3.10 ignores the argument', async () => {
    const version = brokerVersion(rabbit.connection);
    const queue = rabbit.own(uniqueName('held'));
    await rabbit.channel.assertQueue(queue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-consumer-timeout': 1000 },
    });
    rabbit.channel.sendToQueue(queue, Buffer.from('a task that takes too long'));
    await rabbit.channel.waitForConfirms();
    const channel = await rabbit.connection.createChannel();
    let held: ConsumeMessage | undefined;
    let cancelled = false;
    let gotMessage: () => void = () => {};
    const delivered = new Promise<void>((resolve) => {
      gotMessage = resolve;
    });
    const nullSeen = new Promise<void>((resolve) => {
      void channel.consume(queue, (message) => {
        if (message) {
          held = message;
          gotMessage();
        } else {
          cancelled = true;
          resolve();
        }
      });
    });
    await delivered;
    const { consumerTag } = held!.fields;
    if (version.major >= 4) {
      await nullSeen;
      // Still listed as the queue's consumer: the broker cancels it once more when the queue goes,
      // and amqplib then closes the whole connection ("Unknown consumer"). Cancel it yourself.
      expect((await rabbit.channel.checkQueue(queue)).consumerCount).toBe(1);
      await channel.cancel(consumerTag);
      const after = await rabbit.channel.checkQueue(queue);
      expect(after).toMatchObject({ consumerCount: 0, messageCount: 1 });
    } else {
      // 3.10 knows only the broker-wide consumer_timeout (30 minutes by default, checked about
      // once a minute, and it closes the whole channel with 406). The only way to show that a
      // per-queue timeout does nothing is to hold the message well past it.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(cancelled).toBe(false);
      channel.ack(held!);
      await channel.cancel(consumerTag);
      expect(await rabbit.channel.checkQueue(queue)).toMatchObject({ consumerCount: 0, messageCount: 0 });
    }
    await channel.close();
  });

  test('x-consumer-timeout on a classic queue: 4.x refuses it (406: use a consumer-timeout policy), 3.10 accepts and ignores it', async () => {
    const version = brokerVersion(rabbit.connection);
    const queue = rabbit.own(uniqueName('held-classic'));
    const channel = await rabbit.connection.createChannel();
    channel.on('error', () => {});
    const declared = channel.assertQueue(queue, { durable: true, arguments: { 'x-consumer-timeout': 1000 } });
    if (version.major >= 4) {
      await expect(declared).rejects.toThrow(/406.*invalid arg 'x-consumer-timeout'/);
    } else {
      await expect(declared).resolves.toMatchObject({ queue });
      await channel.close();
    }
  });
});

describe('RabbitMQ 3.10 and 4.x: global QoS on a quorum queue', () => {
  test('prefetch(3, true): 3.10 closes the connection (540 NOT_IMPLEMENTED); 4.x ignores global and gives each consumer 3', async () => {
    const version = brokerVersion(rabbit.connection);
    const queue = rabbit.own(uniqueName('global-qos'));
    await rabbit.channel.assertQueue(queue, quorum);
    for (let i = 0; i < 10; i++) rabbit.channel.sendToQueue(queue, Buffer.from(`task ${i}`));
    await rabbit.channel.waitForConfirms();
    // A connection of its own: on 3.10 the broker closes it.
    const connection = await amqp.connect(brokerUrls()[0]!);
    connection.on('error', () => {});
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    await channel.prefetch(3, true);
    if (version.major >= 4) {
      const counts = [0, 0];
      await new Promise<void>((resolve) => {
        for (const consumer of [0, 1]) {
          void channel.consume(queue, (message) => {
            if (!message) return;
            counts[consumer]!++;
            // A global limit of 3 would stop the pair at 3 in all.
            if (counts[0]! + counts[1]! === 6) resolve();
          });
        }
      });
      expect(counts).toEqual([3, 3]);
      await connection.close();
    } else {
      const closed = new Promise((resolve) => connection.once('close', resolve));
      // The consume never gets its reply: the broker closes the connection instead.
      await expect(channel.consume(queue, () => {})).rejects.toThrow();
      expect(String(await closed)).toMatch(/540 \(NOT-IMPLEMENTED\)/);
    }
  });
});
