// Lesson 04's promises, scaled down (small limits, short periods) so the suite stays quick.
import { describe, expect, test } from '@jest/globals';
import type { GetMessage } from 'amqplib';
import { parseOptions } from '../shared/flags.ts';
import { captureDebugLog, producerStatus, statusLines } from '../test/scenes/04-pace-matching.ts';
import {
  captureLog,
  eventually,
  expectOneSentence,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
} from '../test/testing.ts';
import { pace } from './config.ts';
import { produce, program as producerProgram } from './fast-producer.ts';
import { program as consumerProgram, consumeSlowly } from './slow-consumer.ts';

const rabbit = useTestConnection();

/** A queue, its dead-letter queue and an events exchange that only this test uses. */
function scene(name: string, limit: number) {
  const queue = rabbit.own(uniqueName(name));
  rabbit.own(pace.deadLetterQueue(queue));
  const events = rabbit.ownExchange(uniqueName(`${name}.events`));
  return ['--queue', queue, '--queue-limit', String(limit), '--events-exchange', events];
}

function run<T>(body: (signal: AbortSignal) => Promise<T>) {
  const controller = new AbortController();
  return { done: body(controller.signal), stop: () => controller.abort() };
}

describe('pace matching', () => {
  test('the rate limiter never goes faster than its target: 1550 messages at 500 msg/s take at least 3 s (how close it stays is measured by npm run bench)', async () => {
    const where = scene('pace-rate', 100_000);
    const consumer = run((signal) =>
      consumeSlowly(parseOptions(consumerProgram, [...where, '--rate', '0', '--prefetch', '200']), {
        log: captureLog().log,
        signal,
      }),
    );
    const started = performance.now();
    const summary = await produce(
      parseOptions(producerProgram, [...where, '--rate', '500', '--count', '1550']),
      {
        log: captureLog().log,
        signal: new AbortController().signal,
      },
    );
    consumer.stop();
    await consumer.done;
    expect(summary.confirmed).toBe(1550);
    expect(summary.nacks).toBe(0);
    // The pacer sends batch k (of 50) no earlier than k × 50 / 500 s after the start, so the last
    // one leaves after (1550 - 50) / 500 = 3 s however fast the broker is. A busy machine can only
    // make the run longer; shorter means the producer outran its target.
    const seconds = (performance.now() - started) / 1000;
    expect(seconds).toBeGreaterThanOrEqual((1550 - 50) / 500);
    expect(summary.rate).toBeGreaterThan(0);
  });

  test('back-pressure and recovery: nacks drive the rate to its minimum; after the consumer resumes the queue drains, the rate climbs back, and every confirmed message is consumed exactly once', async () => {
    const where = scene('pace-pressure', 200);
    const monitor = start('04-pace-matching/monitor', [
      ...where,
      '--interval',
      '0.2',
      '--port',
      '0',
      '--plain',
    ]);
    const url = /(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(
      await monitor.waitFor(/Prometheus metrics at/),
    )![1]!;

    // What the producer prints: a status line each period; the consumer, with --debug, each message.
    const printed = captureLog();
    const statusWhere = (check: (status: ReturnType<typeof producerStatus>) => boolean, after = -1) =>
      eventually(
        async () => statusLines(printed.lines.slice(after + 1)).find((line) => check(producerStatus(line))),
        'a status line',
        100,
      );
    const producer = run((signal) =>
      produce(
        parseOptions(producerProgram, [
          ...where,
          ...['--rate', '400', '--batch-size', '20', '--min-rate', '20', '--decrease-factor', '0.5'],
          ...['--increase-step', '100', '--status-seconds', '0.25'],
        ]),
        { log: printed.log, signal },
      ),
    );

    // No consumer yet: the queue fills to its limit and the broker nacks.
    const squeezed = await statusWhere((status) => status.targetRate === 20);
    expect(producerStatus(squeezed).nacks).toBeGreaterThan(0);
    await monitor.waitFor(/depth=(19\d|200) .*nacks=[1-9]/);
    const before = await (await fetch(url)).text();

    // The consumer resumes: the queue drains and the producer climbs back step by step.
    const consumerPrinted = captureDebugLog();
    const processed = () =>
      consumerPrinted.lines
        .flatMap((line) => / \[\.\] message (\d+) processed/.exec(line)?.[1] ?? [])
        .map(Number);
    const consumer = run((signal) =>
      consumeSlowly(
        parseOptions(consumerProgram, [
          ...where,
          '--rate',
          '0',
          '--prefetch',
          '50',
          '--status-seconds',
          '0.25',
        ]),
        { log: consumerPrinted.log, signal },
      ),
    );
    await statusWhere((status) => status.targetRate === 400, printed.lines.indexOf(squeezed));
    producer.stop();
    const summary = await producer.done;
    await eventually(async () => processed().length >= summary.confirmed, 'the consumer caught up', 100);
    consumer.stop();
    const totals = await consumer.done;

    // Recovery as the monitor saw it: an empty queue once both programs stopped. (A depth=0 seen
    // earlier does not count: the consumer, unthrottled, keeps the queue near empty while it runs.)
    const stoppedAt = monitor.lines.length;
    await eventually(
      async () => monitor.lines.slice(stoppedAt).some((line) => /depth=0 /.test(line)),
      'the monitor shows an empty queue',
      100,
    );
    const after = await (await fetch(url)).text();

    // Sent: 1..n in order (Ctrl+C drops only new, never-sent ones); confirmed: sent but for what the
    // producer names unconfirmed. The consumer's --debug lines name each message it processed.
    const unconfirmed = new Set(summary.unconfirmed);
    const sent = Array.from({ length: summary.confirmed + unconfirmed.size }, (_, i) => i + 1);
    const confirmed = sent.filter((seq) => !unconfirmed.has(seq));
    const done = processed();
    expect(printed.lines).toContainEqual(
      expect.stringMatching(new RegExp(` \\[✓\\] ${confirmed.length} messages confirmed `)),
    );
    expect(consumerPrinted.lines).toContainEqual(
      expect.stringMatching(new RegExp(` \\[✓\\] ${totals.processed} processed`)),
    );
    expect(totals.processed).toBe(done.length);
    const seen = new Set(done);
    const duplicates = done.filter((seq, i) => done.indexOf(seq) !== i);
    const gaps = confirmed.filter((seq) => !seen.has(seq));
    expect({ duplicates, gaps, unexpected: done.filter((seq) => !confirmed.includes(seq)) }).toEqual({
      duplicates: [],
      gaps: [],
      unexpected: [],
    });

    // Every metric is served, and they moved.
    for (const name of [
      'pace_queue_depth',
      'pace_queue_unacked',
      'pace_broker_memory_bytes',
      'pace_publish_rate',
      'pace_deliver_rate',
      'pace_processing_latency_seconds',
      'pace_message_age_seconds',
      'pace_backpressure_events_total',
      'pace_producer_target_rate',
    ]) {
      expect(after).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    const value = (text: string, series: string) =>
      Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value(before, 'pace_queue_depth')).toBeGreaterThanOrEqual(190);
    expect(value(after, 'pace_queue_depth')).toBe(0);
    expect(value(before, 'pace_backpressure_events_total\\{kind="nack"\\}')).toBeGreaterThan(0);
    expect(value(after, 'pace_message_age_seconds_count')).toBeGreaterThan(
      value(before, 'pace_message_age_seconds_count') || 0,
    );
    expect(value(after, 'pace_processing_latency_seconds_count')).toBeGreaterThan(0);
    expect(value(after, 'pace_producer_target_rate')).toBeGreaterThan(
      value(before, 'pace_producer_target_rate'),
    );
    expect(value(after, 'pace_broker_memory_bytes')).toBeGreaterThan(0);
    monitor.kill('SIGINT');
    expect((await monitor.exited).code).toBe(130);
  });

  test('failing messages are retried a bounded number of times, then dead-lettered, and the queue keeps flowing', async () => {
    const where = scene('pace-fail', 10_000);
    const queue = where[1]!;
    // With --debug the consumer prints each message it processed; it always prints each one it gives up on.
    const printed = captureDebugLog();
    const order = () =>
      printed.lines.flatMap((line) => {
        const processed = / \[\.\] message (\d+) processed/.exec(line);
        const dead = / \[✗\] message (\d+) failed .* dead-lettered to /.exec(line);
        return processed ? [`processed ${processed[1]}`] : dead ? [`dead ${dead[1]}`] : [];
      });
    const consumer = run((signal) =>
      consumeSlowly(
        parseOptions(consumerProgram, [...where, '--rate', '0', '--fail-every', '5', '--max-retries', '2']),
        { log: printed.log, signal },
      ),
    );
    await produce(parseOptions(producerProgram, [...where, '--count', '50']), {
      log: captureLog().log,
      signal: new AbortController().signal,
    });
    await eventually(async () => order().length === 50, 'all 50 handled', 100);
    consumer.stop();
    const totals = await consumer.done;
    const handled = order();
    const dead = handled.flatMap((what) => (what.startsWith('dead ') ? [Number(what.slice(5))] : []));

    expect(dead.sort((a, b) => a - b)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect(totals).toEqual({ processed: 40, retried: 20, dead: 10 });
    // Message 5 did not block the queue: 6 was processed before 5 was given up on.
    expect(handled.indexOf('processed 6')).toBeLessThan(handled.indexOf('dead 5'));

    const letters: GetMessage[] = [];
    for (;;) {
      const message = await rabbit.channel.get(pace.deadLetterQueue(queue), { noAck: true });
      if (!message) break;
      letters.push(message);
    }
    expect(letters.map((m) => Number(m.properties.headers?.['x-seq'])).sort((a, b) => a - b)).toEqual(dead);
    expect(letters.every((m) => m.properties.headers?.['x-retries'] === 2)).toBe(true);
    expect(letters.every((m) => Array.isArray(m.properties.headers?.['x-death']))).toBe(true);
  });

  test('a foreign message (no sequence number, no publish time) is consumed without a NaN age in the status line or the events', async () => {
    const where = scene('pace-foreign', 1000);
    const queue = where[1]!;
    const events = where[5]!;
    await rabbit.channel.assertExchange(events, 'topic', { durable: false });
    const { queue: inbox } = await rabbit.channel.assertQueue('', { exclusive: true });
    await rabbit.channel.bindQueue(inbox, events, 'consumer');
    const { log, lines } = captureLog();
    const consumer = run((signal) =>
      consumeSlowly(parseOptions(consumerProgram, [...where, '--rate', '0', '--status-seconds', '0.1']), {
        log,
        signal,
      }),
    );
    await eventually(async () => lines.some((line) => /consuming/i.test(line)), 'the consumer ready');
    rabbit.channel.sendToQueue(queue, Buffer.from('from elsewhere'));
    await rabbit.channel.waitForConfirms();
    // The status line of the period that processed it: its rate is 1 over the period's measured
    // length (10/s when the timer is on time, less on a busy machine), and its mean age is this message's.
    await eventually(
      async () => lines.some((line) => /processed [1-9]\d*\/s .* total 1/.test(line)),
      'its status',
    );
    consumer.stop();
    const totals = await consumer.done;
    expect(totals.processed).toBe(1);
    const reported: string[] = [];
    for (;;) {
      const message = await rabbit.channel.get(inbox, { noAck: true });
      if (!message) break;
      reported.push(message.content.toString());
    }
    expect(lines.filter((line) => /NaN/.test(line))).toEqual([]);
    expect(reported.filter((text) => /null|NaN/.test(text))).toEqual([]);
  });

  test("a quorum queue's length limit is soft: a burst is accepted past it, then nacks push the producer back; a classic queue stops at the limit exactly", async () => {
    const depths: Record<string, { depth: number; confirmed: number; nacks: number }> = {};
    for (const type of ['classic', 'quorum']) {
      const where = scene(`pace-${type}-limit`, 10);
      const { log, lines } = captureLog();
      const producer = run((signal) =>
        produce(
          parseOptions(producerProgram, [
            ...where,
            ...['--queue-type', type, '--rate', '1000', '--batch-size', '50', '--status-seconds', '0.25'],
          ]),
          { log, signal },
        ),
      );
      // Two status periods with nacks: the limit is pushing back, nothing new gets in.
      await eventually(async () => lines.filter((line) => /nacks [1-9]/.test(line)).length >= 2, 'nacks');
      producer.stop();
      const summary = await producer.done;
      const { messageCount } = await rabbit.channel.checkQueue(where[1]!);
      depths[type] = { depth: messageCount, confirmed: summary.confirmed, nacks: summary.nacks };
    }
    console.log(`x-max-length 10, bursts of 50: ${JSON.stringify(depths)}`);
    expect(depths.classic!.depth).toBe(10);
    expect(depths.classic!.confirmed).toBe(10);
    // Quorum: the burst in flight when the limit was crossed is accepted (soft), at most the four
    // batches the producer keeps in flight; after that the broker nacks and the depth holds.
    expect(depths.quorum!.depth).toBeGreaterThan(10);
    expect(depths.quorum!.depth).toBeLessThanOrEqual(200);
    expect(depths.quorum!.confirmed).toBe(depths.quorum!.depth);
    expect(depths.quorum!.nacks).toBeGreaterThan(0);
  });

  test('a queue limit that disagrees with the existing queue ends in the 406 sentence', async () => {
    const where = scene('pace-mismatch', 1000);
    const earlier = await runProgram('04-pace-matching/fast-producer', [
      ...where.slice(0, 2),
      '--queue-limit',
      '5',
      '--count',
      '1',
    ]);
    expect(earlier.code).toBe(0);
    const exit = await runProgram('04-pace-matching/fast-producer', [...where, '--count', '1']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /already exists with other settings \(x-max-length is '5', this program asks for '1000'\)/,
    );
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
