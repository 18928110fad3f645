// Lesson 12: how fast a stream takes and gives back messages, beside the queues. Four raw clients
// alternate in one run, each appending COUNT messages of SIZE bytes with confirms (at most WINDOW
// unconfirmed) and reading them all back: a stream over the stream protocol
// (rabbitmq-stream-js-client), the same kind of stream over AMQP 0-9-1 (amqplib, x-stream-offset,
// a prefetch and acks), a quorum queue and a classic queue (amqplib, persistent). Then the lesson's
// own programs, called in-process with a silent log, beside the raw client of their protocol:
// offset-tracking-send, offset-tracking-receive (storing its offset every 10) and amqp-receive.
import { PassThrough } from 'node:stream';
import { program as amqpProgram, amqpReceive } from '../12-streams/amqp-receive.ts';
import { offsetTrackingReceive, program as receiveProgram } from '../12-streams/offset-tracking-receive.ts';
import { offsetTrackingSend, program as sendProgram } from '../12-streams/offset-tracking-send.ts';
import { parseOptions } from '../shared/flags.ts';
import { logger } from '../shared/logger.ts';
import { streamConnect } from '../shared/stream.ts';
import { median, row, run } from './harness.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const COUNT = Number(process.env.BENCH_COUNT ?? 200_000);
const SIZE = 100;
const WINDOW = '2000';

interface Figures {
  append: number;
  read: number;
}

/** "… append: N messages = R msg/s" and "… read: …", as the raw clients print them. */
function figures(output: string): Figures {
  const append = /append: \d+ messages = ([\d.]+) msg\/s/.exec(output);
  const read = /read: \d+ messages = ([\d.]+) msg\/s/.exec(output);
  if (!append || !read) throw new Error(`no rates in:\n${output}`);
  return { append: Number(append[1]), read: Number(read[1]) };
}

const quiet = logger('bench', { stream: new PassThrough().resume(), file: false });
const context = () => ({ log: quiet, signal: new AbortController().signal });
const name = (what: string, round: number) => `bench-${what}-${process.pid}-${round}`;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return COUNT / ((performance.now() - started) / 1000);
}

/** The lesson's three programs on one stream: append, read over the stream protocol, read over AMQP. */
async function lesson(round: number): Promise<Figures & { amqpRead: number }> {
  const stream = name('lesson', round);
  // "message n" padded to SIZE bytes, as the raw clients send.
  const text = 'x'.repeat(SIZE - `message ${COUNT}`.length);
  const common = ['--stream', stream, '--count', String(COUNT)];
  try {
    const append = await timed(() =>
      offsetTrackingSend(parseOptions(sendProgram, [...common, text]), context()),
    );
    const read = await timed(() =>
      offsetTrackingReceive(
        parseOptions(receiveProgram, [...common, '--offset', 'first', '--name', stream]),
        context(),
      ),
    );
    const amqpRead = await timed(() =>
      amqpReceive(parseOptions(amqpProgram, [...common, '--offset', 'first']), context()),
    );
    return { append, read, amqpRead };
  } finally {
    const client = await streamConnect({ log: quiet, name: 'bench cleanup' });
    await client.deleteStream({ stream }).catch(() => {});
    await client.close();
  }
}

export default async function bench(): Promise<void> {
  const size = [String(COUNT), String(SIZE), WINDOW];
  const contenders: Record<string, (round: number) => Promise<Figures>> = {
    'stream, stream protocol': async (round) =>
      figures(await run('bench/raw/stream-client.ts', [name('stream', round), ...size])),
    'stream, AMQP 0-9-1': async (round) =>
      figures(await run('bench/raw/amqplib-queue.ts', ['stream', name('amqp-stream', round), ...size])),
    'quorum queue, AMQP 0-9-1': async (round) =>
      figures(await run('bench/raw/amqplib-queue.ts', ['quorum', name('quorum', round), ...size])),
    'classic queue, AMQP 0-9-1': async (round) =>
      figures(await run('bench/raw/amqplib-queue.ts', ['classic', name('classic', round), ...size])),
  };
  const results: Record<string, Figures[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  const lessons: Array<Figures & { amqpRead: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, once] of Object.entries(contenders)) results[label]!.push(await once(round));
    lessons.push(await lesson(round));
  }
  const medians = Object.fromEntries(
    Object.entries(results).map(([label, all]) => [
      label,
      { append: median(all.map((f) => f.append)), read: median(all.map((f) => f.read)) },
    ]),
  );
  const classic = medians['classic queue, AMQP 0-9-1']!;
  process.stdout.write(
    `${COUNT} messages of ${SIZE} bytes, confirms with ${WINDOW} in flight, prefetch 1000 and acks (median of ${ROUNDS}):\n`,
  );
  for (const [label, { append, read }] of Object.entries(medians)) {
    row(
      `raw client, ${label}`,
      `append ${append.toFixed(0)} msg/s (${(append / classic.append).toFixed(1)}× classic), read ${read.toFixed(0)} msg/s (${(read / classic.read).toFixed(1)}× classic)`,
    );
  }
  const streamRaw = medians['stream, stream protocol']!;
  const amqpRaw = medians['stream, AMQP 0-9-1']!;
  const ours = {
    append: median(lessons.map((f) => f.append)),
    read: median(lessons.map((f) => f.read)),
    amqpRead: median(lessons.map((f) => f.amqpRead)),
  };
  row(
    'offset-tracking-send',
    `append ${ours.append.toFixed(0)} msg/s (${(ours.append / streamRaw.append).toFixed(2)}× raw)`,
  );
  row(
    'offset-tracking-receive (stores every 10)',
    `read ${ours.read.toFixed(0)} msg/s (${(ours.read / streamRaw.read).toFixed(2)}× raw)`,
  );
  row(
    'amqp-receive (prefetch 100)',
    `read ${ours.amqpRead.toFixed(0)} msg/s (${(ours.amqpRead / amqpRaw.read).toFixed(2)}× raw)`,
  );
}
