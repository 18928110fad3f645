// Lesson 05 against plain amqplib, side by side: producer (streamed confirms, window 1000, 1000 B
// persistent), consumer (prefetch 1000, multiple ack every 100), CSV on and off. The processor has its
// own bench (05-processor.bench.ts), which needs no broker.
import amqp from 'amqplib';
import { brokerUrls } from '../shared/connection.ts';
import { alternate, rate, row, run } from './harness.ts';

// Short runs cannot resolve a 5 % difference: one program's rate moved by up to 20 % between runs
// of 5 × 20,000 here. Nine rounds of 50,000 (about six minutes) are steadier.
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const n = Number(process.env.BENCH_MESSAGES ?? 50_000);

async function deleteQueue(queue: string) {
  const connection = await amqp.connect(brokerUrls()[0]!);
  const channel = await connection.createChannel();
  await channel.deleteQueue(queue);
  await connection.close();
}

/** Fills a queue with n messages (raw producer), then times one consumer draining it. */
async function consumeRate(script: string, args: (queue: string) => string[]): Promise<number> {
  const queue = `bench-consume-${process.pid}`;
  await run('bench/raw/amqplib-producer.ts', [queue, String(n), '1000', '1000']);
  try {
    return rate(await run(script, args(queue)));
  } finally {
    await deleteQueue(queue);
  }
}

async function produceRate(script: string, args: (queue: string) => string[]): Promise<number> {
  const queue = `bench-produce-${process.pid}`;
  try {
    return rate(await run(script, args(queue)));
  } finally {
    await deleteQueue(queue);
  }
}

export default async function bench(): Promise<void> {
  process.stderr.write(`${rounds} alternating rounds each; ${n} messages of 1000 B per run.\n`);
  const producer = await alternate(rounds, {
    lesson: () =>
      produceRate('05-performance/producer.ts', (q) => [
        '--queue',
        q,
        '--count',
        String(n),
        '--max-in-flight',
        '1000',
      ]),
    raw: () => produceRate('bench/raw/amqplib-producer.ts', (q) => [q, String(n), '1000', '1000']),
  });
  const confirmEach = await alternate(Math.min(rounds, 3), {
    lesson: () =>
      produceRate('05-performance/producer.ts', (q) => [
        '--queue',
        q,
        '--count',
        '2000',
        '--max-in-flight',
        '1',
      ]),
  });
  const csv = await alternate(rounds, {
    on: () => produceRate('05-performance/producer.ts', (q) => ['--queue', q, '--count', String(n)]),
    off: () =>
      produceRate('05-performance/producer.ts', (q) => ['--queue', q, '--count', String(n), '--no-csv']),
  });
  const consumer = await alternate(rounds, {
    lesson: () =>
      consumeRate('05-performance/consumer.ts', (q) => [
        '--queue',
        q,
        '--count',
        String(n),
        '--prefetch',
        '1000',
        '--batch',
        '100',
      ]),
    raw: () => consumeRate('bench/raw/amqplib-consumer.ts', (q) => [q, String(n), '1000', '100']),
  });

  const r = (x: number) => `${Math.round(x)} msg/s`;
  row('producer, streamed confirms (window 1000): lesson', r(producer.lesson!));
  row('producer, streamed confirms (window 1000): raw amqplib', r(producer.raw!));
  row('  ratio lesson / raw (target ≥ 0.95)', (producer.lesson! / producer.raw!).toFixed(3));
  row('producer, confirm each (--max-in-flight 1): lesson', r(confirmEach.lesson!));
  row('  ratio streamed / confirm each (target ≥ 10)', (producer.lesson! / confirmEach.lesson!).toFixed(1));
  row('producer with CSV', r(csv.on!));
  row('producer without CSV (--no-csv)', r(csv.off!));
  row('  CSV costs (target ≤ 5%)', `${((1 - csv.on! / csv.off!) * 100).toFixed(1)}%`);
  row('consumer, prefetch 1000, ack every 100: lesson', r(consumer.lesson!));
  row('consumer, prefetch 1000, ack every 100: raw amqplib', r(consumer.raw!));
  row('  ratio lesson / raw (target ≥ 0.95)', (consumer.lesson! / consumer.raw!).toFixed(3));
}
