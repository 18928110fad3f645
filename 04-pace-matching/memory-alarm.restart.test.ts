// A memory alarm blocks every publishing connection. This file sets the broker's memory watermark,
// which affects everyone, so npm test runs it alone, after the other tests.
import { execFileSync } from 'node:child_process';
import { afterAll, expect, test } from '@jest/globals';
import { parseOptions } from '../shared/cli.ts';
import { captureLog, testBroker, uniqueName } from '../shared/testing.ts';
import { pace } from './config.ts';
import { produce, program } from './fast-producer.ts';

const watermark = (value: string) =>
  execFileSync('rabbitmqctl', ['set_vm_memory_high_watermark', value], { stdio: 'pipe' });
afterAll(() => {
  watermark('0.4');
});

test('a memory alarm blocks the producer: it pauses (only what was in flight is confirmed while blocked), resumes when unblocked, and loses nothing', async () => {
  const broker = await testBroker();
  const queue = broker.own(uniqueName('pace-alarm'));
  broker.own(pace.deadLetterQueue(queue));
  const events = broker.ownExchange(uniqueName('pace-alarm.events'));
  const seen: string[] = [];
  let confirmedWhileBlocked = 0;
  let blocked = false;
  let resolveUnblocked: () => void = () => {};
  const unblocked = new Promise<void>((resolve) => {
    resolveUnblocked = resolve;
  });
  let resolveStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    resolveStarted = resolve;
  });
  const { log } = captureLog();
  const summary = produce(
    parseOptions(program, [
      '--queue',
      queue,
      '--events-exchange',
      events,
      '--rate',
      '500',
      '--count',
      '1500',
    ]),
    { log, signal: new AbortController().signal },
    {
      onConfirmed: () => {
        resolveStarted();
        if (blocked) confirmedWhileBlocked++;
      },
      onBackpressure: (kind) => {
        seen.push(kind);
        if (kind === 'blocked') {
          blocked = true;
          // Confirms already on the wire may still arrive; give the alarm back once we have seen it.
          watermark('0.4');
        }
        if (kind === 'unblocked') {
          blocked = false;
          resolveUnblocked();
        }
      },
    },
  );
  let result: Awaited<typeof summary>;
  try {
    await started;
    watermark('0.0000001');
    await unblocked;
    result = await summary;
  } finally {
    await broker.close();
  }
  expect(seen).toEqual(expect.arrayContaining(['blocked', 'unblocked']));
  expect(result.confirmed).toBe(1500);
  // At most what was already in flight (4 batches of 50) can be confirmed after the block.
  expect(confirmedWhileBlocked).toBeLessThanOrEqual(200);
});
