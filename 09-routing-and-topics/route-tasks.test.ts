// Routing used for real: every row of lesson 03's data/tasks.csv lands, once, in the queue of its kind.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { brokerUrl } from '../shared/connection.ts';
import { drainQueue, expectOneSentence, runProgram, uniqueName, useTestConnection } from '../test/testing.ts';

const rabbit = useTestConnection();

describe('route-tasks', () => {
  test('each row of data/tasks.csv is in exactly one queue: 3 dots or more in <prefix>.long, the rest in <prefix>.quick', async () => {
    const prefix = uniqueName('tasks');
    const exchange = rabbit.ownExchange(uniqueName('tasks_by_kind'));
    rabbit.own(`${prefix}.quick`, `${prefix}.long`);
    const exit = await runProgram('09-routing-and-topics/route-tasks', [
      '--exchange',
      exchange,
      '--queue-prefix',
      prefix,
    ]);
    expect(exit.code).toBe(0);
    const rows = readFileSync('data/tasks.csv', 'utf8').trim().split('\n');
    const long = rows.filter((row) => row.split(',')[1]!.length >= 3).length;
    expect(exit.stderr).toContain(
      `RabbitMQ confirmed all ${rows.length} tasks: ${rows.length - long} to ${prefix}.quick, ${long} to ${prefix}.long.`,
    );
    const quickGot = await drainQueue(brokerUrl(), `${prefix}.quick`);
    const longGot = await drainQueue(brokerUrl(), `${prefix}.long`);
    const dots = (m: { content: Buffer }) => /(\.+)$/.exec(m.content.toString())![1]!.length;
    expect(quickGot.messages.map(dots).every((d) => d < 3)).toBe(true);
    expect(longGot.messages.map(dots).every((d) => d >= 3)).toBe(true);
    const numbers = [...quickGot.messages, ...longGot.messages].map((m) =>
      Number(/^#(\d+) /.exec(m.content.toString())![1]),
    );
    expect(numbers.sort((a, b) => a - b)).toEqual(rows.map((_, i) => i + 1));
    expect(longGot.messages).toHaveLength(long);
    expect(longGot.messages.every((m) => m.properties.deliveryMode === 2)).toBe(true);
  });

  test('a lesson 02 worker takes the long tasks from their own queue', async () => {
    const prefix = uniqueName('tasks');
    const exchange = rabbit.ownExchange(uniqueName('tasks_by_kind'));
    rabbit.own(`${prefix}.quick`, `${prefix}.long`);
    expect(
      (
        await runProgram('09-routing-and-topics/route-tasks', [
          '--exchange',
          exchange,
          '--queue-prefix',
          prefix,
        ])
      ).code,
    ).toBe(0);
    const { messageCount } = await rabbit.channel.checkQueue(`${prefix}.long`);
    const worker = await runProgram('02-work-queues/worker', [
      '--queue',
      `${prefix}.long`,
      '--count',
      String(messageCount),
      '--seconds-per-dot',
      '0.01',
    ]);
    expect(worker.code).toBe(0);
    expect(worker.stderr.match(/ done '#\d+ .* \.{3,}'/g)).toHaveLength(messageCount);
    expect((await rabbit.channel.checkQueue(`${prefix}.long`)).messageCount).toBe(0);
  });

  test('a missing file: one sentence', async () => {
    const exit = await runProgram('09-routing-and-topics/route-tasks', ['--file', 'data/no-such.csv']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/^The task file data\/no-such\.csv cannot be read \(ENOENT\)/);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
