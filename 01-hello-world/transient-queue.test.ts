// A non-exclusive transient queue (durable: false), the official tutorial's old declaration of
// `hello` (lesson 01's README says why the course declares a quorum queue): RabbitMQ 4.x deprecates
// that kind of queue; 3.10 has no notion of deprecated features. Each test asserts the behaviour of
// the broker it talks to (npm test: 3.10; npm run test:rabbitmq4: 4.x).
import { describe, expect, test } from '@jest/globals';
import { managementAuth } from '../shared/config.ts';
import { brokerVersion } from '../test/broker-version.ts';
import { uniqueName, useTestConnection } from '../test/testing.ts';

const rabbit = useTestConnection();

async function managementGet(path: string): Promise<{ status: number; body: unknown }> {
  const { base, authorization } = managementAuth();
  const response = await fetch(`${base}${path}`, { headers: { authorization } });
  return { status: response.status, body: await response.json() };
}

describe('RabbitMQ 3.10 and 4.x: a non-exclusive transient queue', () => {
  test('durable: false still works on both; 4.x lists it as the deprecated feature transient_nonexcl_queues in use, 3.10 has no such list', async () => {
    const version = brokerVersion(rabbit.connection);
    const queue = rabbit.own(uniqueName('hello-transient'));
    await rabbit.channel.assertQueue(queue, { durable: false });
    rabbit.channel.sendToQueue(queue, Buffer.from('Hello World!'));
    await rabbit.channel.waitForConfirms();
    const message = await rabbit.channel.get(queue, { noAck: true });
    expect(message ? message.content.toString() : 'nothing').toBe('Hello World!');

    const used = await managementGet('/api/deprecated-features/used');
    if (version.major >= 4) {
      expect(used.status).toBe(200);
      expect((used.body as { name: string }[]).map((feature) => feature.name)).toContain(
        'transient_nonexcl_queues',
      );
      // Permitted by default: a broker with deprecated_features.permit.transient_nonexcl_queues =
      // false refuses such a declaration and closes the whole connection (541 INTERNAL_ERROR).
      const all = (await managementGet('/api/deprecated-features')).body as { name: string; state: string }[];
      expect(all.find((feature) => feature.name === 'transient_nonexcl_queues')?.state).toBe('permitted');
    } else {
      expect(used.status).toBe(404);
    }
  });
});
