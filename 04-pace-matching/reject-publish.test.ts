// x-max-length with x-overflow reject-publish is exact on a classic queue and soft on a quorum
// queue, on RabbitMQ 3.10 and 4.x alike (npm test: 3.10; npm run test:rabbitmq4: 4.x).
import { describe, expect, test } from '@jest/globals';
import { uniqueName, useTestConnection } from '../test/testing.ts';

const rabbit = useTestConnection();

async function fullQueue(type: 'classic' | 'quorum'): Promise<string> {
  const queue = rabbit.own(uniqueName(`limit-${type}`));
  await rabbit.channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-queue-type': type, 'x-max-length': 10, 'x-overflow': 'reject-publish' },
  });
  return queue;
}

/** Publishes one message and says whether the broker confirmed (ack) or refused (nack) it. */
function publish(queue: string): Promise<boolean> {
  return new Promise((resolve) => {
    rabbit.channel.sendToQueue(queue, Buffer.from('work'), { persistent: true }, (error) => resolve(!error));
  });
}

const tally = (confirms: boolean[]) => ({
  acked: confirms.filter(Boolean).length,
  nacked: confirms.filter((ok) => !ok).length,
});

describe('RabbitMQ 3.10 and 4.x: reject-publish on a full queue', () => {
  test('a classic queue with x-max-length 10 confirms exactly 10 of a 20-message burst and nacks the rest', async () => {
    const queue = await fullQueue('classic');
    const confirms = await Promise.all(Array.from({ length: 20 }, () => publish(queue)));
    expect(tally(confirms)).toEqual({ acked: 10, nacked: 10 });
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(10);
  });

  test("a quorum queue's limit is soft: a 20-message burst goes past 10, all confirmed; one at a time, 11 are confirmed and 9 nacked", async () => {
    const burst = await fullQueue('quorum');
    // The queue checks its length when it applies a message, not when the publish arrives: the
    // messages of one burst are all accepted before the first is counted.
    const burstConfirms = await Promise.all(Array.from({ length: 20 }, () => publish(burst)));
    const { acked } = tally(burstConfirms);
    expect(acked).toBeGreaterThan(10);
    expect((await rabbit.channel.checkQueue(burst)).messageCount).toBe(acked);

    const oneByOne = await fullQueue('quorum');
    const confirms: boolean[] = [];
    for (let i = 0; i < 20; i++) confirms.push(await publish(oneByOne));
    // Refused only once the queue holds more than the limit: one message over.
    expect(tally(confirms)).toEqual({ acked: 11, nacked: 9 });
    expect((await rabbit.channel.checkQueue(oneByOne)).messageCount).toBe(11);
  });
});
