// explain() turns real failures into one sentence: each row of RabbitMQ's, the management API's and
// the network's met with a real error where one is cheap to cause, else with an error shaped
// exactly as the library makes it. Lesson 06 tests PostgreSQL's and MQTT's (06-scheduled-jobs/errors.test.ts).
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { sentence as check, rejection, secretUrl } from '../test/error-sentences.ts';
import { managementAuth, settings } from './config.ts';
import { brokerUrls } from './connection.ts';
import { rabbitmq } from './errors/amqp.ts';
import { managementApi } from './errors/management.ts';
import { type Explainer, explain } from './errors.ts';

const url = brokerUrls()[0]!;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;

let connection: amqp.ChannelModel;
const queues: string[] = [];
beforeAll(async () => {
  connection = await amqp.connect(url);
  connection.on('error', () => {});
});
afterAll(async () => {
  const channel = await connection.createChannel();
  for (const queue of queues) await channel.deleteQueue(queue).catch(() => {});
  await connection.close();
});

/** The error a channel operation fails with (the broker closes that channel). */
async function failure(operation: (channel: amqp.Channel) => Promise<unknown>): Promise<unknown> {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  try {
    await operation(channel);
  } catch (error) {
    return error;
  }
  await channel.close();
  throw new Error('the operation did not fail');
}

/** The sentence for `error` in RabbitMQ's words by default, checked against the contract. */
const sentence = (error: unknown, service: Explainer = rabbitmq, where = url) => check(error, service, where);

async function management(method: string, path: string, body?: unknown): Promise<Response> {
  const { base, authorization } = managementAuth();
  return fetch(`${base}/api/${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

describe('AMQP reply codes', () => {
  test('404 on a missing queue whose name holds 403 is a missing queue, not a refused login', async () => {
    const queue = unique('orders-403');
    const explained = sentence(await failure((channel) => channel.checkQueue(queue)));
    expect(explained.code).toBe('QUEUE_NOT_FOUND');
    expect(explained.message).toContain(`'${queue}'`);
  });

  test('404 on a missing exchange', async () => {
    const exchange = unique('no-such-exchange');
    const explained = sentence(await failure((channel) => channel.checkExchange(exchange)));
    expect(explained.code).toBe('EXCHANGE_NOT_FOUND');
    expect(explained.message).toContain(`'${exchange}'`);
  });

  test('404 on binding a queue to an exchange that does not exist names the exchange', async () => {
    const exchange = unique('no-such-logs');
    const explained = sentence(
      await failure(async (channel) => {
        const { queue } = await channel.assertQueue('', { exclusive: true });
        await channel.bindQueue(queue, exchange, '');
      }),
    );
    expect(explained.code).toBe('EXCHANGE_NOT_FOUND');
    expect(explained.message).toBe(
      `The exchange '${exchange}' does not exist: start the program that declares it first, or check its name.`,
    );
  });

  test('406 on a queue redeclared with other arguments names the queue and both values', async () => {
    const queue = unique('redeclared');
    queues.push(queue);
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true });
    await channel.close();
    const explained = sentence(await failure((c) => c.assertQueue(queue, { durable: false })));
    expect(explained.code).toBe('QUEUE_MISMATCH');
    expect(explained.message).toContain(
      `The queue '${queue}' already exists with other settings (durable is 'true', this program asks for 'false')`,
    );
  });

  test('406 on an exchange redeclared with another type or durability names the exchange and both values', async () => {
    const exchange = unique('redeclared-exchange');
    const channel = await connection.createChannel();
    await channel.assertExchange(exchange, 'fanout', { durable: false });
    try {
      const type = sentence(await failure((c) => c.assertExchange(exchange, 'direct', { durable: false })));
      expect(type.code).toBe('EXCHANGE_MISMATCH');
      expect(type.message).toContain(
        `The exchange '${exchange}' already exists with other settings (type is fanout, this program asks for direct)`,
      );
      const durable = sentence(await failure((c) => c.assertExchange(exchange, 'fanout', { durable: true })));
      expect(durable.message).toContain('(durable is false, this program asks for true)');
    } finally {
      await channel.deleteExchange(exchange);
      await channel.close();
    }
  });

  test("403 on a name with the reserved prefix 'amq.' says so, not that the user lacks permissions", async () => {
    const explained = sentence(
      await failure((channel) => channel.assertExchange(unique('amq.mine'), 'fanout', { durable: false })),
    );
    expect(explained.code).toBe('RESERVED_NAME');
    expect(explained.message).toMatch(/^The name 'amq\.mine-[^']+' starts with 'amq\.'/);
  });

  test('406 unknown delivery tag: a message acked twice', async () => {
    const channel = await connection.createChannel();
    const closed = once(channel, 'error');
    channel.ack({ fields: { deliveryTag: 999 } } as amqp.Message);
    const [error] = await closed;
    expect(sentence(error).code).toBe('UNKNOWN_DELIVERY_TAG');
  });

  test('405 a queue held exclusively by another connection', async () => {
    const owner = await amqp.connect(url);
    try {
      const channel = await owner.createChannel();
      const { queue } = await channel.assertQueue(unique('exclusive'), { exclusive: true });
      const explained = sentence(await failure((c) => c.assertQueue(queue, { exclusive: true })));
      expect(explained.code).toBe('RESOURCE_LOCKED');
    } finally {
      await owner.close();
    }
  });

  test('403 on a channel is a refused operation, not a refused login', async () => {
    const queue = unique('bind-default');
    queues.push(queue);
    const explained = sentence(
      await failure(async (channel) => {
        await channel.assertQueue(queue, { durable: false, autoDelete: true });
        await channel.bindQueue(queue, '', 'x');
      }),
    );
    expect(explained.code).toBe('ACCESS_REFUSED');
    expect(explained.message).toMatch(/^RabbitMQ refused the operation/);
  });

  test('403 at login: a wrong password for a throwaway user', async () => {
    const user = unique('course-errors-test');
    expect((await management('PUT', `users/${user}`, { password: 'right-one', tags: '' })).ok).toBe(true);
    try {
      const wrong = url.replace(/\/\/[^@/]*@|\/\//, `//${user}:p@ss%2FSECRET@`);
      const error = await rejection(amqp.connect(wrong));
      const explained = sentence(error, rabbitmq, wrong);
      expect(explained.code).toBe('ACCESS_REFUSED');
      expect(explained.message).toContain(`refused the login for user '${user}'`);
    } finally {
      await management('DELETE', `users/${user}`);
    }
  });

  test('530 an unknown virtual host', async () => {
    const vhost = unique('no-such-vhost');
    const where = `${url.replace(/\/$/, '')}/${vhost}`;
    const explained = sentence(await rejection(amqp.connect(where)), rabbitmq, where);
    expect(explained.code).toBe('UNKNOWN_VHOST');
    expect(explained.message).toContain(`'${vhost}'`);
  });

  test('320 a connection closed from the management API', async () => {
    const name = unique('closed-by-admin');
    const victim = await amqp.connect(url, { clientProperties: { connection_name: name } });
    // 320 is not fatal to amqplib: it emits no 'error', only 'close' with the error.
    const closed = once(victim, 'close');
    // The management API lists a new connection within its statistics interval.
    let found: { name: string } | undefined;
    while (!found) {
      const list = (await (await management('GET', 'connections?columns=name,client_properties')).json()) as {
        name: string;
        client_properties?: { connection_name?: string };
      }[];
      found = list.find((c) => c.client_properties?.connection_name === name);
      if (!found) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await management('DELETE', `connections/${encodeURIComponent(found.name)}`);
    const [error] = await closed;
    expect(sentence(error).code).toBe('CLOSED_BY_BROKER');
  });

  test.each([
    [540, 'NOT_IMPLEMENTED', "NOT_IMPLEMENTED - queue 'q' in vhost '/' does not support global qos"],
    [541, 'BROKER_INTERNAL_ERROR', 'INTERNAL_ERROR'],
    [504, 'CLOSED_BY_BROKER', "CHANNEL_ERROR - second 'channel.open' seen"],
  ])('%i, as amqplib reports a connection close', (code, expected, text) => {
    // amqplib's own format for a close frame: Connection closed: <code> (<NAME>) with message "<text>"
    const error = Object.assign(new Error(`Connection closed: ${code} (X) with message "${text}"`), { code });
    expect(sentence(error).code).toBe(expected);
  });

  test('an operation on a closed channel', async () => {
    const channel = await connection.createChannel();
    await channel.close();
    const error = await rejection((async () => channel.assertQueue(unique('late')))());
    expect(sentence(error).code).toBe('CHANNEL_CLOSED');
  });
});

describe('errno codes', () => {
  test('ECONNREFUSED: nothing listens on the port', async () => {
    const where = secretUrl('amqp://127.0.0.1:1');
    const explained = sentence(await rejection(amqp.connect(where)), rabbitmq, where);
    expect(explained.code).toBe('CONNECTION_REFUSED');
    expect(explained.message).toContain('at amqp://learner:***@127.0.0.1:1 (connection refused)');
  });

  test('ENOTFOUND or EAI_AGAIN: a host that does not exist', async () => {
    const where = 'amqp://no-such-host.invalid';
    expect(sentence(await rejection(amqp.connect(where)), rabbitmq, where).code).toBe('HOST_NOT_FOUND');
  });

  test('a port that accepts but never speaks AMQP: the connect timeout', async () => {
    const silent = createServer(() => {});
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    try {
      const where = `amqp://127.0.0.1:${port}`;
      const error = await rejection(amqp.connect(where, { timeout: 200 }));
      expect(sentence(error, rabbitmq, where).code).toBe('TIMEOUT');
    } finally {
      silent.close();
    }
  });

  test('a port that speaks another protocol (the management UI, PostgreSQL): not AMQP', async () => {
    const database = new URL(settings().databaseUrl);
    const postgres = `amqp://${database.hostname}:${database.port || 5432}`;
    for (const where of [managementAuth().base.replace(/^http/, 'amqp'), postgres]) {
      const explained = sentence(await rejection(amqp.connect(where)), rabbitmq, where);
      expect(explained.code).toBe('NOT_AMQP');
      expect(explained.message).toMatch(/AMQP port \(5672\)/);
    }
  });

  test('amqps:// at the plain AMQP port: not TLS', async () => {
    const where = url.replace(/^amqp:/, 'amqps:');
    const explained = sentence(await rejection(amqp.connect(where)), rabbitmq, where);
    expect(explained.code).toBe('NOT_TLS');
    expect(explained.message).toMatch(/amqp:\/\//);
  });

  test('the management API down: fetch reports the errno on its cause', async () => {
    const free = createServer();
    free.listen(0, '127.0.0.1');
    await once(free, 'listening');
    const where = `http://127.0.0.1:${(free.address() as { port: number }).port}`;
    free.close();
    await once(free, 'close');
    const error = await rejection(fetch(`${where}/api/overview`));
    const explained = sentence(error, managementApi, where);
    expect(explained.code).toBe('CONNECTION_REFUSED');
    expect(explained.message).toMatch(/management plugin/);
  });

  test('401 from the management API: a wrong password in its URL', async () => {
    const { base } = managementAuth();
    const response = await fetch(`${base}/api/overview`, {
      headers: { authorization: `Basic ${Buffer.from('guest:wrong-SECRET').toString('base64')}` },
    });
    const error = Object.assign(new Error(`HTTP ${response.status}`), { status: response.status });
    const where = base.replace('://', '://guest:wrong-SECRET@');
    const explained = sentence(error, managementApi, where);
    expect(explained.code).toBe('ACCESS_REFUSED');
    expect(explained.message).toMatch(/RABBITMQ_MANAGEMENT_URL/);
  });

  test('a string that is not a URL', () => {
    let error: unknown;
    try {
      new URL('not a url SECRET');
    } catch (e) {
      error = e;
    }
    expect(sentence(error, rabbitmq, 'not a url SECRET').code).toBe('BAD_URL');
  });
});

test('an error no row knows is still one sentence, masked', () => {
  const explained = explain(new Error('weird thing at amqp://u:SECRET@h'));
  expect(explained.code).toBe('UNEXPECTED');
  expect(explained.message).toBe(
    'Something unexpected went wrong (weird thing at amqp://u:***@h): run again with --debug for the details.',
  );
});

test("a RabbitMQ program reads only RabbitMQ's rows: an error with a SQLSTATE is not PostgreSQL's", () => {
  const error = Object.assign(new Error('terminating connection due to administrator command'), {
    code: '57P01',
  });
  const explained = explain(error);
  expect(explained.code).toBe('UNEXPECTED');
  expect(explained.message).not.toMatch(/PostgreSQL/);
});

test('a socket error that reaches runMain in a program of two services names both, not the first alone', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const one = explain(refused, {}, [rabbitmq]);
  expect(one.message).toMatch(/^Could not connect to RabbitMQ \(connection refused\)/);
  const both = explain(refused, {}, [rabbitmq, managementApi]);
  expect(both.code).toBe('CONNECTION_REFUSED');
  expect(both.message).toBe(
    'Could not connect to RabbitMQ or the RabbitMQ management API (connection refused): start them with `npm run services`, or check AMQP_URL and RABBITMQ_MANAGEMENT_URL.',
  );
});
