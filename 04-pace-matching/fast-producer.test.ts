// The producer's promises about what it counts as confirmed, and how it paces itself under nacks.
import { describe, expect, test } from '@jest/globals';
import type { Message } from 'amqplib';
import { brokerUrl } from '../shared/connection.ts';
import { parseOptions } from '../shared/flags.ts';
import { captureLog, drainQueue, eventually, uniqueName, useTestConnection } from '../test/testing.ts';
import { pace } from './config.ts';
import { produce, program } from './fast-producer.ts';

const rabbit = useTestConnection();

function scene(name: string, limit: number) {
  const queue = rabbit.own(uniqueName(name));
  rabbit.own(pace.deadLetterQueue(queue));
  const events = rabbit.ownExchange(uniqueName(`${name}.events`));
  return ['--queue', queue, '--queue-limit', String(limit), '--events-exchange', events];
}

const seqOf = (message: Message) => Number(message.properties.headers?.['x-seq']);

describe('fast-producer', () => {
  test('with --rate 10 (below the default --min-rate 50) a nack never speeds the producer up', async () => {
    const where = scene('pace-minrate', 5);
    const { log, lines } = captureLog();
    const controller = new AbortController();
    const running = produce(
      parseOptions(program, [...where, '--rate', '10', '--batch-size', '5', '--status-seconds', '0.2']),
      { log, signal: controller.signal },
    );
    const nacked = (line: string) => /nacks [1-9]/.test(line);
    await eventually(async () => lines.filter(nacked).length >= 3, 'three status lines after a nack');
    controller.abort();
    await running;
    const targets = lines.filter(nacked).map((line) => Number(/target (\d+)\/s/.exec(line)?.[1]));
    expect(targets.length).toBeGreaterThanOrEqual(3);
    for (const target of targets) expect(target).toBeLessThanOrEqual(10);
  });

  test('a message routed nowhere (its queue deleted mid-run) is not counted as confirmed: the producer declares the queue again and republishes it', async () => {
    const where = scene('pace-unroutable', 100_000);
    const queue = where[1]!;
    const [batchSize, inFlight] = [20, 4];
    const { log, lines } = captureLog({ debug: true });
    const running = produce(
      parseOptions(program, [
        ...where,
        ...['--rate', '400', '--count', '800'],
        ...['--batch-size', String(batchSize), '--max-batches-in-flight', String(inFlight)],
      ]),
      { log, signal: new AbortController().signal },
    );
    await eventually(async () => lines.some((line) => /publishing to/i.test(line)), 'the queue declared');
    await eventually(
      async () => ((await rabbit.channel.checkQueue(queue)).messageCount >= 200 ? true : undefined),
      '200 messages in the queue',
    );
    const { messageCount: deleted } = await rabbit.channel.deleteQueue(queue);
    const summary = await running;
    const held = (await drainQueue(brokerUrl(), queue, { remove: false })).messages
      .map(seqOf)
      .sort((a, b) => a - b);
    const returned = lines
      .flatMap((line) => /Message (\d+) came back unroutable/.exec(line)?.[1] ?? [])
      .map(Number);

    expect(lines.some((line) => /messages came back unroutable/.test(line))).toBe(true);
    expect(returned.length).toBeGreaterThan(0);
    expect(summary.returned).toBe(returned.length);
    // Every message that came back was published again, into the queue declared anew.
    expect(returned.filter((seq) => !held.includes(seq))).toEqual([]);
    expect(summary.confirmed).toBe(800);
    expect(new Set(held).size).toBe(held.length);
    // The new queue holds every message from the first one that came back to the last: nothing
    // after the deletion was counted without being delivered.
    expect(held[0]).toBe(Math.min(...returned));
    expect(held).toEqual(Array.from({ length: held.length }, (_, i) => held[0]! + i));
    expect(held.at(-1)).toBe(800);
    // The messages before it went to the queue that was deleted. RabbitMQ confirms a message it
    // routed to a queue even when the queue is deleted before the message reaches it (a deleted
    // queue is not a failure to nack), so delete-ok's count can miss what was in flight then.
    const routedToDeleted = held[0]! - 1;
    expect(routedToDeleted).toBeGreaterThanOrEqual(deleted);
    expect(routedToDeleted - deleted).toBeLessThanOrEqual(batchSize * inFlight);
  });

  test('a republished message keeps the time it was first published, so its age counts the wait', async () => {
    const where = scene('pace-age', 5);
    const queue = where[1]!;
    const { log, lines } = captureLog();
    const controller = new AbortController();
    const started = Date.now();
    const running = produce(
      parseOptions(program, [...where, '--rate', '100', '--batch-size', '20', '--count', '20']),
      { log, signal: controller.signal },
    );
    // Five fit; fifteen are nacked and republished again and again for a second and more.
    await eventually(async () => lines.some((line) => /nacked/.test(line)), 'a nack');
    await eventually(async () => (Date.now() - started > 1500 ? true : undefined), 'a wait of 1.5 s');
    // Take them off as room lets the republished ones in, until all twenty are here.
    const taken: { message: Message; at: number }[] = [];
    while (new Set(taken.map(({ message }) => seqOf(message))).size < 20) {
      for (const message of (await drainQueue(brokerUrl(), queue, { remove: false })).messages)
        taken.push({ message, at: Date.now() });
      await eventually(
        async () =>
          taken.length >= 20 || (await rabbit.channel.checkQueue(queue)).messageCount > 0 ? true : undefined,
        'more messages',
      );
    }
    controller.abort();
    await running;
    const republished = taken.filter(({ message }) => seqOf(message) > 5);
    expect(republished.length).toBeGreaterThanOrEqual(15);
    for (const { message, at } of republished) {
      const publishedAt = Number(message.properties.headers?.['x-published-at']);
      const body = JSON.parse(message.content.toString()) as { publishedAt: number };
      // All twenty went out in the first batch, within 0.5 s of the start, and waited over 1 s.
      expect(publishedAt).toBeLessThan(started + 500);
      expect(body.publishedAt).toBe(publishedAt);
      expect(at - publishedAt).toBeGreaterThan(1000);
    }
  });
});
