// Lesson 04's promises, scaled down (small limits, short periods) so the suite stays quick.
import { describe, expect, test } from '@jest/globals';
import type { GetMessage } from 'amqplib';
import { parseOptions } from '../shared/cli.ts';
import {
  captureLog,
  expectOneSentence,
  runProgram,
  start,
  uniqueName,
  useTestBroker,
} from '../shared/testing.ts';
import { pace } from './config.ts';
import { type ProducerStatus, produce, program as producerProgram } from './fast-producer.ts';
import { program as consumerProgram, consumeSlowly } from './slow-consumer.ts';

const broker = useTestBroker();

/** A queue, its dead-letter queue and an events exchange that only this test uses. */
function scene(name: string, limit: number) {
  const queue = broker.own(uniqueName(name));
  broker.own(pace.deadLetterQueue(queue));
  const events = broker.ownExchange(uniqueName(`${name}.events`));
  return ['--queue', queue, '--queue-limit', String(limit), '--events-exchange', events];
}

function run<T>(body: (signal: AbortSignal) => Promise<T>) {
  const controller = new AbortController();
  return { done: body(controller.signal), stop: () => controller.abort() };
}

describe('pace matching', () => {
  test('the rate limiter holds the target: confirmed rate within 2% of 500 msg/s over 3 s', async () => {
    const where = scene('pace-rate', 100_000);
    const consumer = run((signal) =>
      consumeSlowly(parseOptions(consumerProgram, [...where, '--rate', '0', '--prefetch', '200']), {
        log: captureLog().log,
        signal,
      }),
    );
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
    expect(Math.abs(summary.rate - 500) / 500).toBeLessThan(0.02);
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

    const confirmed: number[] = [];
    let onStatus: (status: ProducerStatus) => void = () => {};
    const statusWhere = (check: (status: ProducerStatus) => boolean) =>
      new Promise<ProducerStatus>((resolve) => {
        onStatus = (status) => check(status) && resolve(status);
      });
    const atMinimum = statusWhere((status) => status.targetRate === 20);
    const producer = run((signal) =>
      produce(
        parseOptions(producerProgram, [
          ...where,
          ...['--rate', '400', '--batch-size', '20', '--min-rate', '20', '--decrease-factor', '0.5'],
          ...['--increase-step', '100', '--status-seconds', '0.25'],
        ]),
        { log: captureLog().log, signal },
        { onConfirmed: (seq) => confirmed.push(seq), onStatus: (status) => onStatus(status) },
      ),
    );

    // No consumer yet: the queue fills to its limit and the broker nacks.
    const squeezed = await atMinimum;
    expect(squeezed.nacks).toBeGreaterThan(0);
    await monitor.waitFor(/depth=(19\d|200) .*nacks=[1-9]/);
    const before = await (await fetch(url)).text();

    // The consumer resumes: the queue drains and the producer climbs back step by step.
    const recovered = statusWhere((status) => status.targetRate === 400);
    const processed: number[] = [];
    let producerDone = false;
    let allIn: () => void = () => {};
    const caughtUp = new Promise<void>((resolve) => {
      allIn = resolve;
    });
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
        { log: captureLog().log, signal },
        {
          onProcessed: (seq) => {
            processed.push(seq);
            if (producerDone && processed.length >= confirmed.length) allIn();
          },
        },
      ),
    );
    await recovered;
    producer.stop();
    const summary = await producer.done;
    producerDone = true;
    if (processed.length >= confirmed.length) allIn();
    await caughtUp;
    consumer.stop();
    await consumer.done;

    // Recovery as the monitor saw it: from the limit down to an empty queue.
    const high = monitor.lines.findIndex((line) => /depth=(19\d|200) /.test(line));
    const zerosBefore = monitor.lines.slice(0, high).filter((line) => /depth=0 /.test(line)).length;
    await monitor.waitFor(/depth=0 /, zerosBefore + 1);
    const after = await (await fetch(url)).text();

    expect(summary.confirmed).toBe(confirmed.length);
    const seen = new Set(processed);
    const duplicates = processed.filter((seq, i) => processed.indexOf(seq) !== i);
    const gaps = confirmed.filter((seq) => !seen.has(seq));
    expect({ duplicates, gaps, unexpected: processed.filter((seq) => !confirmed.includes(seq)) }).toEqual({
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
    const order: string[] = [];
    const dead: number[] = [];
    let allHandled: () => void = () => {};
    const handled = new Promise<void>((resolve) => {
      allHandled = resolve;
    });
    const check = () => order.length === 50 && allHandled();
    const consumer = run((signal) =>
      consumeSlowly(
        parseOptions(consumerProgram, [...where, '--rate', '0', '--fail-every', '5', '--max-retries', '2']),
        { log: captureLog().log, signal },
        {
          onProcessed: (seq) => {
            order.push(`processed ${seq}`);
            check();
          },
          onDeadLettered: (seq) => {
            dead.push(seq);
            order.push(`dead ${seq}`);
            check();
          },
        },
      ),
    );
    await produce(parseOptions(producerProgram, [...where, '--count', '50']), {
      log: captureLog().log,
      signal: new AbortController().signal,
    });
    await handled;
    consumer.stop();
    const totals = await consumer.done;

    expect(dead.sort((a, b) => a - b)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect(totals).toEqual({ processed: 40, retried: 20, dead: 10 });
    // Message 5 did not block the queue: 6 was processed before 5 was given up on.
    expect(order.indexOf('processed 6')).toBeLessThan(order.indexOf('dead 5'));

    const letters: GetMessage[] = [];
    for (;;) {
      const message = await broker.channel.get(pace.deadLetterQueue(queue), { noAck: true });
      if (!message) break;
      letters.push(message);
    }
    expect(letters.map((m) => Number(m.properties.headers?.['x-seq'])).sort((a, b) => a - b)).toEqual(dead);
    expect(letters.every((m) => m.properties.headers?.['x-retries'] === 2)).toBe(true);
    expect(letters.every((m) => Array.isArray(m.properties.headers?.['x-death']))).toBe(true);
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
