// Lesson 08: a fanout to 1, 10 and 100 bound queues. The course's emit-log (mandatory, numbered
// headers, a log line per message, confirms) beside a plain amqplib emitter (bench/raw), alternated
// in the same run: how fast each publishes (until every confirm is in), and how fast the slowest
// bound queue's consumer has every line (from the start of the publish).
import { PassThrough } from 'node:stream';
import amqp from 'amqplib';
import { emitLog, program } from '../08-publish-subscribe/emit-log.ts';
import { brokerUrls } from '../shared/connection.ts';
import { parseOptions } from '../shared/flags.ts';
import { logger } from '../shared/logger.ts';
import { median, row } from './harness.ts';
import { rawFanout } from './raw/amqplib-fanout.ts';

const ROUNDS = 3;
const COUNT = 2000;

const url = brokerUrls()[0] ?? 'amqp://localhost';
const quiet = logger('bench', { stream: new PassThrough().resume(), file: false });

interface Figures {
  publish: number;
  slowest: number;
}

/** Binds `queues` consumed queues to a fresh fanout, runs `emit`, and times it and the slowest queue. */
async function measure(
  queues: number,
  emit: (exchange: string) => Promise<unknown>,
  durable = false,
): Promise<Figures> {
  const exchange = `bench-fanout-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const connection = await amqp.connect(url);
  let cleanup: string[] = [];
  try {
    const channel = await connection.createChannel();
    await channel.assertExchange(exchange, 'fanout', { durable: false });
    const owned: string[] = [];
    cleanup = owned;
    let done = 0;
    let allIn: () => void = () => {};
    const delivered = new Promise<void>((resolve) => (allIn = resolve));
    let slowestAt = 0;
    for (let q = 0; q < queues; q++) {
      // durable: classic queues that write persistent messages to disk; else exclusive, in memory.
      const { queue } = durable
        ? await channel.assertQueue(`${exchange}-${q}`, {
            durable: true,
            arguments: { 'x-queue-type': 'classic' },
          })
        : await channel.assertQueue('', { exclusive: true });
      if (durable) owned.push(queue);
      await channel.bindQueue(queue, exchange, '');
      let got = 0;
      await channel.consume(
        queue,
        () => {
          if (++got === COUNT && ++done === queues) {
            slowestAt = performance.now();
            allIn();
          }
        },
        { noAck: true },
      );
    }
    const started = performance.now();
    await emit(exchange);
    const published = performance.now();
    await delivered;
    return {
      publish: COUNT / ((published - started) / 1000),
      slowest: COUNT / ((slowestAt - started) / 1000),
    };
  } finally {
    await connection.close();
    const cleaner = await amqp.connect(url);
    const cleaning = await cleaner.createChannel();
    await cleaning.deleteExchange(exchange).catch(() => {});
    for (const queue of cleanup) await cleaning.deleteQueue(queue).catch(() => {});
    await cleaner.close();
  }
}

const course = (exchange: string) =>
  emitLog(parseOptions(program, ['--exchange', exchange, '--count', String(COUNT), 'bench line']), {
    log: quiet,
    signal: new AbortController().signal,
  });
const raw = (exchange: string) => rawFanout(url, exchange, COUNT);
const rawPersistent = (exchange: string) => rawFanout(url, exchange, COUNT, true);

export default async function bench(): Promise<void> {
  for (const queues of [1, 10, 100]) {
    const figures: Record<'course' | 'raw' | 'persistent', Figures[]> = {
      course: [],
      raw: [],
      persistent: [],
    };
    for (let round = 0; round < ROUNDS; round++) {
      figures.course.push(await measure(queues, course));
      figures.raw.push(await measure(queues, raw));
      figures.persistent.push(await measure(queues, rawPersistent, true));
    }
    for (const [name, label] of [
      ['course', 'emit-log'],
      ['raw', 'plain amqplib'],
      ['persistent', 'amqplib persistent, durable'],
    ] as const) {
      const publish = median(figures[name].map((f) => f.publish));
      const slowest = median(figures[name].map((f) => f.slowest));
      row(
        `${label}, ${COUNT} lines to ${queues} queue${queues === 1 ? '' : 's'} (median of ${ROUNDS})`,
        `publish ${publish.toFixed(0)} msg/s, slowest queue ${slowest.toFixed(0)} msg/s (${(slowest * queues).toFixed(0)} deliveries/s)`,
      );
    }
  }
}
