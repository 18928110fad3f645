// The test kit's own promises: a test that waits for one line of a program that prints a great deal
// (lesson 05's producer writes a CSV row per message) sees it at once, however long the output; and
// the one way tests empty a queue and count what it held.
import { spawn } from 'node:child_process';
import { expect, test } from '@jest/globals';
import { brokerUrl } from '../shared/connection.ts';
import { drainQueue, Running, testConnection, uniqueName, within } from './testing.ts';

/** A program that prints `rows` CSV rows, then one line on stderr, then a second. */
function chatty(rows: number): Running {
  const script = `
    const rows = Array.from({ length: ${rows} }, (_, i) => 'a-0-' + i + ',1795436262672.808,1795436262711.334').join('\\n');
    process.stdout.write(rows + '\\n', () => {
      process.stderr.write('reconnected to amqp://localhost\\n');
      process.stderr.write('reconnected to amqp://localhost again\\n');
    });`;
  return new Running(spawn(process.execPath, ['-e', script]));
}

test('waiting for a line while 60,000 rows arrive costs time in proportion to the rows, not their square', async () => {
  const program = chatty(60_000);
  const started = performance.now();
  // Rescanning every line for every new line took minutes here (1.8 billion pattern tests).
  await within(20, program, program.waitFor(/reconnected to/, 2));
  const ms = performance.now() - started;
  process.stderr.write(`60,000 rows, then the second matching line: seen after ${Math.round(ms)} ms\n`);
  expect(program.matching(/reconnected to/)).toHaveLength(2);
  await program.exited;
});

test('a line already printed is found without waiting', async () => {
  const program = chatty(10);
  await program.exited;
  await expect(program.waitFor(/again$/)).resolves.toBe('reconnected to amqp://localhost again');
});

test('drainQueue takes every message off a queue, counts them by id with the duplicates, and deletes the queue when told', async () => {
  const scene = await testConnection();
  try {
    const queue = scene.own(uniqueName('drain'));
    const exchange = scene.ownExchange(uniqueName('drain.events'));
    await scene.channel.assertQueue(queue, { durable: false });
    await scene.channel.assertExchange(exchange, 'topic', { durable: false });
    const publish = async (ids: string[]) => {
      for (const id of ids) scene.channel.sendToQueue(queue, Buffer.from(id), { messageId: id });
      await scene.channel.waitForConfirms();
    };
    const ids = [...Array.from({ length: 3000 }, (_, i) => `m${i + 1}`), 'm1', 'm2'];
    await publish(ids);

    const kept = await drainQueue(brokerUrl(), queue, { remove: false });
    expect(kept.ids).toEqual(ids);
    expect(kept.messages.map((message) => message.content.toString())).toEqual(ids);
    expect(kept.unique.size).toBe(3000);
    expect(kept.duplicates).toBe(2);
    expect((await scene.channel.checkQueue(queue)).messageCount).toBe(0);

    await publish(['a', 'b']);
    const removed = await drainQueue(brokerUrl(), queue, { alsoDelete: { exchanges: [exchange] } });
    expect(removed.ids).toEqual(['a', 'b']);
    expect(removed.duplicates).toBe(0);
    const probe = await scene.connection.createChannel();
    probe.on('error', () => {});
    await expect(probe.checkQueue(queue)).rejects.toThrow(/404/);
    const probe2 = await scene.connection.createChannel();
    probe2.on('error', () => {});
    await expect(probe2.checkExchange(exchange)).rejects.toThrow(/404/);
    await expect(drainQueue(brokerUrl(), queue)).rejects.toThrow(/404/);
  } finally {
    await scene.close();
  }
});
