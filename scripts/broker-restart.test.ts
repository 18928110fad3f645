// npm run broker -- restart, against a private node (slot 6): never the learner's broker at 5672,
// which other tests use. It says which broker and how many connections it drops, before it does.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { delimiter } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { repoRoot } from '../shared/repo-root.ts';
import { usePrivateBroker } from '../test/private-broker.ts';
import { Running, uniqueName, within } from '../test/testing.ts';
import { rabbitmqSbin } from './rabbit-node.ts';

const node = usePrivateBroker(6);

/** The command as a learner types it, pointed at the private node by AMQP_URL and RABBITMQ_MANAGEMENT_URL. */
function restart(): Running {
  const child = spawn('npm', ['run', '--silent', 'broker', '--', 'restart'], {
    cwd: repoRoot,
    env: {
      // The node's cookie and epmd (its HOME, ERL_EPMD_PORT), and RabbitMQ's own rabbitmqctl rather
      // than Debian's wrapper, which switches to the main broker's user and cookie.
      ...node.env(),
      PATH: `${rabbitmqSbin()}${delimiter}${process.env.PATH}`,
      NODE_OPTIONS: '',
      FORCE_COLOR: '0',
      AMQP_URL: node.amqpUrl,
      RABBITMQ_MANAGEMENT_URL: node.managementUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Running(child);
}

describe('npm run broker -- restart', () => {
  test('names the broker and the connections it drops, restarts it, and says when it answers again', async () => {
    const queue = uniqueName('restart');
    const names = [uniqueName('client-a'), uniqueName('client-b')];
    const clients = await Promise.all(
      names.map((name) => amqp.connect(node.amqpUrl, { clientProperties: { connection_name: name } })),
    );
    const closed = clients.map((client) => {
      client.on('error', () => {});
      return once(client, 'close');
    });
    const setup = await clients[0]!.createChannel();
    await setup.assertQueue(queue, { durable: true });
    // The management API lists a connection a moment after it opens.
    const management = `${node.managementUrl}/api/connections`;
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    for (;;) {
      const listed = (await (await fetch(management, { headers: auth })).json()) as unknown[];
      if (listed.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const command = restart();
    const exit = await within(180, command, command.exited);
    expect({ code: exit.code, stderr: exit.stderr }).toMatchObject({ code: 0 });
    const lines = exit.stderr.split('\n');
    const announce = lines.findIndex((line) => line.startsWith('Restarting RabbitMQ'));
    expect(lines[announce]).toMatch(
      new RegExp(
        `^Restarting RabbitMQ 3\\.\\d+\\.\\d+, node ${node.nodeName}, at amqp://localhost:${node.options.amqpPort}: it drops 2 connections \\((${names[0]}, ${names[1]}|${names[1]}, ${names[0]})\\)`,
      ),
    );
    const stopped = lines.findIndex((line) => line.includes('stop_app'));
    expect(stopped).toBeGreaterThan(announce); // said before it did it
    expect(lines.at(-2)).toMatch(
      new RegExp(
        `^RabbitMQ ${node.nodeName} answers again at amqp://localhost:${node.options.amqpPort} \\(restarted in [\\d.]+ s\\)\\.$`,
      ),
    );
    expect(exit.stderr).not.toMatch(/guest:guest|\n\s+at /);
    await Promise.all(closed); // the broker closed both clients

    const after = await amqp.connect(node.amqpUrl);
    try {
      const channel = await after.createChannel();
      expect((await channel.checkQueue(queue)).queue).toBe(queue); // durable: it survived
      await channel.deleteQueue(queue);
    } finally {
      await after.close();
    }
  });
});
