// The private node drills rely on: it starts beside the main broker, answers AMQP, restarts, dies on
// SIGKILL, and leaves the main broker alone.
import { describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { usePrivateBroker } from './private-broker.ts';

const node = usePrivateBroker(9);

describe('a private RabbitMQ node for drills', () => {
  test('answers AMQP on its own port, keeps a durable queue across a restart, and dies on kill', async () => {
    const queue = `private-node-${process.pid}`;
    const first = await amqp.connect(node.amqpUrl);
    const channel = await first.createConfirmChannel();
    await channel.assertQueue(queue, { durable: true });
    channel.sendToQueue(queue, Buffer.from('kept'), { persistent: true });
    await channel.waitForConfirms();
    await first.close();

    await node.ctl(['stop_app']);
    await node.ctl(['start_app']);
    const second = await amqp.connect(node.amqpUrl);
    const after = await second.createChannel();
    expect((await after.checkQueue(queue)).messageCount).toBe(1);
    await after.deleteQueue(queue);
    await second.close();

    const pid = node.pid();
    expect(pid).toBeGreaterThan(0);
    await node.kill();
    expect(node.pid()).toBeUndefined();
    await expect(amqp.connect(node.amqpUrl)).rejects.toThrow();
    await node.start(); // afterAll's destroy stops it cleanly again
  });
});
