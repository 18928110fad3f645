// A memory alarm blocks every publishing connection. The alarm is raised on a private node (slot 2)
// by lowering its memory watermark: the learner's broker is never squeezed.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parseOptions } from '../shared/flags.ts';
import { usePrivateBroker } from '../test/private-broker.ts';
import {
  captureDebugLog,
  drainPaced,
  missing,
  producerStatus,
  statusLines,
} from '../test/scenes/04-pace-matching.ts';
import { captureLog, eventually, uniqueName } from '../test/testing.ts';
import { produce, program } from './fast-producer.ts';

const node = usePrivateBroker(2);
const savedEnv = { ...process.env };
let previous = '';

const readWatermark = async () =>
  (await node.ctl(['eval', 'vm_memory_monitor:get_vm_memory_high_watermark().'])).trim();
const setWatermark = (value: string) => node.ctl(['set_vm_memory_high_watermark', value]);

beforeAll(async () => {
  previous = await readWatermark(); // restored after, whatever it was
  process.env.AMQP_URL = node.amqpUrl;
  process.env.RABBITMQ_MANAGEMENT_URL = node.managementUrl;
});
afterAll(async () => {
  process.env.AMQP_URL = savedEnv.AMQP_URL;
  process.env.RABBITMQ_MANAGEMENT_URL = savedEnv.RABBITMQ_MANAGEMENT_URL;
  if (savedEnv.AMQP_URL === undefined) delete process.env.AMQP_URL;
  if (savedEnv.RABBITMQ_MANAGEMENT_URL === undefined) delete process.env.RABBITMQ_MANAGEMENT_URL;
});

test('a memory alarm blocks the producer: it sends nothing new while blocked, resumes when unblocked, and the queue holds every message once', async () => {
  const queue = uniqueName('pace-alarm');
  const N = 1500;
  const batch = 50;
  const { log, lines } = captureLog();
  const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
  /** The status lines printed between 'blocked publishing' and 'unblocked publishing'. */
  const whileBlocked = () => {
    const from = at(/RabbitMQ blocked publishing/);
    const to = at(/RabbitMQ unblocked publishing/);
    return from < 0 ? [] : statusLines(lines.slice(from + 1, to < 0 ? undefined : to));
  };
  const summary = produce(
    parseOptions(program, [
      ...['--queue', queue, '--events-exchange', `${queue}.events`, '--rate', '500'],
      ...['--batch-size', String(batch), '--max-batches-in-flight', '8'],
      ...['--count', String(N), '--status-seconds', '0.25'],
    ]),
    { log, signal: new AbortController().signal },
  );
  try {
    await eventually(
      async () => statusLines(lines).some((line) => / total [1-9]/.test(line)),
      'a confirm',
      100,
    );
    await setWatermark('0.0000001');
    // Held for six status periods (1.5 s): a producer that ignored the block would have filled its
    // eight batches in flight (400) in 0.8 s.
    await eventually(async () => whileBlocked().length >= 6, 'six status periods while blocked', 100);
  } finally {
    await setWatermark(previous);
  }
  const result = await summary;
  expect(await readWatermark()).toBe(previous);
  expect(at(/RabbitMQ blocked publishing/)).toBeGreaterThanOrEqual(0);
  expect(at(/RabbitMQ blocked publishing/)).toBeLessThan(at(/RabbitMQ unblocked publishing/));
  // Nothing new went out while blocked: what stays in flight is what was on the wire when the block
  // came (a batch or two at this rate), never the eight batches a producer that ignored it sends.
  expect(Math.max(...whileBlocked().map((line) => producerStatus(line).inFlight))).toBeLessThanOrEqual(
    4 * batch,
  );
  expect(result.confirmed).toBe(N);
  const counted = await drainPaced(node.amqpUrl, queue);
  expect(missing(counted.unique, N)).toEqual([]);
  expect(counted.ids.length).toBe(N);
});

test('Ctrl+C while RabbitMQ blocks publishing: it stops within seconds with its counts, without waiting for the block to lift', async () => {
  const queue = uniqueName('pace-alarm-stop');
  const { log, lines } = captureLog();
  const controller = new AbortController();
  const summary = produce(
    parseOptions(program, [
      ...['--queue', queue, '--events-exchange', `${queue}.events`, '--rate', '500'],
      ...['--batch-size', '50', '--max-batches-in-flight', '8', '--status-seconds', '0.25'],
    ]),
    { log, signal: controller.signal },
  );
  let stoppedIn = Number.NaN;
  let result: Awaited<typeof summary>;
  try {
    await eventually(
      async () => statusLines(lines).some((line) => / total [1-9]/.test(line)),
      'a confirm',
      100,
    );
    await setWatermark('0.0000001');
    await eventually(
      async () => lines.some((line) => /RabbitMQ blocked publishing/.test(line)),
      'blocked',
      100,
    );
    const stoppedAt = performance.now();
    controller.abort();
    // The block is lifted only after the producer has ended: one that waited for it never would.
    result = await summary;
    stoppedIn = performance.now() - stoppedAt;
  } finally {
    await setWatermark(previous);
  }
  expect(stoppedIn).toBeLessThan(20_000); // 5 s for the confirms in flight, 5 s for the close, and slack
  expect(result.confirmed).toBeGreaterThan(0);
  expect(lines.at(-1)).toMatch(/ \d+ messages confirmed at .* msg\/s/);
  // Every confirmed message is in the queue; those still unanswered at Ctrl+C may be or not.
  const counted = await drainPaced(node.amqpUrl, queue);
  expect(counted.ids.length).toBeGreaterThanOrEqual(result.confirmed);
});

test('blocked with a full write buffer, then the node dies: the producer reconnects when the node is back and finishes, every message confirmed and queued once', async () => {
  const queue = uniqueName('pace-drain');
  const N = 20_000;
  await setWatermark('0.0000001'); // blocked from its first publish
  // With --debug the producer says when publish returned false and it waits for 'drain'.
  const { log, lines } = captureDebugLog();
  const summary = produce(
    parseOptions(program, [
      ...['--queue', queue, '--events-exchange', `${queue}.events`, '--rate', '100000'],
      ...['--queue-limit', '100000', '--batch-size', String(N), '--max-batches-in-flight', '1'],
      ...['--count', String(N)],
    ]),
    { log, signal: new AbortController().signal },
  );
  await eventually(async () => lines.some((line) => /waiting for 'drain'/.test(line)), 'a drain wait', 100); // 20,000 messages handed to amqplib, the broker reading none: publish said false
  // The socket dies under the producer (SIGKILL of the node's VM) while it waits for 'drain'. The
  // producer races that wait with the channel's close. (Breaking that race does not turn this test
  // red: amqplib 0.10 still emits 'drain' here as it tears the channel down. It does not when the
  // client's own socket is destroyed, which no broker fault in these tests produces.)
  await node.kill();
  await node.start(); // the watermark is back to its configured value: publishing is unblocked
  const result = await Promise.race([
    summary,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running after 60 s:\n${lines.join('\n')}`)), 60_000).unref(),
    ),
  ]);
  expect(result.confirmed).toBe(N);
  const counted = await drainPaced(node.amqpUrl, queue);
  expect(missing(counted.unique, N)).toEqual([]);
});
