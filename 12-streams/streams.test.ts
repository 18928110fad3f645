// Lesson 12's promises, proven with its programs run as a learner runs them: reads that remove
// nothing, offsets stored and resumed without a gap (after a SIGKILL too), a producer name that
// de-duplicates, the same stream read over AMQP 0-9-1, a cut connection survived, bad input refused.

import { PassThrough } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { Offset } from 'rabbitmq-stream-js-client';
import { settings } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { streamConnect } from '../shared/stream.ts';
import { faultProxy } from '../test/fault-proxy.ts';
import {
  expectOneSentence,
  type Running,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
} from '../test/testing.ts';

const rabbit = useTestConnection();
const own = (prefix: string) => rabbit.own(uniqueName(prefix));
const program = (name: string) => `12-streams/${name}`;
const sendNumbered = (stream: string, ...flags: string[]) =>
  runProgram(program('offset-tracking-send'), ['--stream', stream, ...flags]);
const receiver = (stream: string, flags: string[], env: NodeJS.ProcessEnv = {}): Running =>
  start(program('offset-tracking-receive'), ['--stream', stream, ...flags], env);
/** The offsets a receiver printed, in order. */
const offsets = (r: Running) =>
  r.matching(/ \[x\] offset \d+: /).map((line) => Number(/offset (\d+):/.exec(line)![1]));
/** Everything a program printed: its lines go to stderr (the log) and stdout alike. */
const out = (exit: { stdout: string; stderr: string }) => exit.stdout + exit.stderr;
/** The last offset of a stream, as offset-tracking-receive's refusal of an offset beyond it says. */
async function lastOffset(stream: string): Promise<number> {
  const exit = await runProgram(program('offset-tracking-receive'), [
    '--stream',
    stream,
    '--offset',
    '999999999',
  ]);
  return Number(/whose last message is at offset (-?\d+)/.exec(exit.stderr)?.[1] ?? Number.NaN);
}
/** Resolves once a reader of the stream (from its start) has seen `count` messages. */
async function appended(stream: string, count: number): Promise<void> {
  const client = await streamConnect({
    log: logger('test', { stream: new PassThrough().resume(), file: false }),
    name: 'test watcher',
  });
  try {
    let seen = 0;
    let reached = () => {};
    const enough = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const consumer = await client.declareConsumer({ stream, offset: Offset.first() }, () => {
      if (++seen === count) reached();
    });
    await enough;
    await consumer.close();
  } finally {
    await client.close();
  }
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('tutorial 1: hello stream', () => {
  test('send appends one message; two receivers both read it, and a third started later reads it again', async () => {
    const stream = own('hello-stream');
    const sent = await runProgram(program('send'), ['--stream', stream, 'Hello, stream!']);
    expect(sent.code).toBe(0);
    expect(out(sent)).toContain(` [x] 'Hello, stream!' sent to ${stream}`);
    const read = () => runProgram(program('receive'), ['--stream', stream, '--count', '1']);
    const [a, b] = await Promise.all([read(), read()]);
    const c = await read();
    for (const exit of [a, b, c]) {
      expect(exit.code).toBe(0);
      expect(out(exit)).toContain(' [x] Received message: Hello, stream!');
    }
    // Nothing was removed: the stream still holds its one message, at offset 0.
    expect(await lastOffset(stream)).toBe(0);
  });
});

describe('tutorial 2: offset tracking', () => {
  test('a second run with the same --name resumes after the stored offset: no gap, no repeat', async () => {
    const stream = own('offsets');
    expect((await sendNumbered(stream, '--count', '100')).code).toBe(0);
    const first = receiver(stream, ['--name', 'r', '--count', '40']);
    expect((await first.exited).code).toBe(0);
    expect(offsets(first)).toEqual(range(0, 39));
    expect(first.lines.join('\n')).toContain(
      " [✓] Read 40 messages (offsets 0–39); stored offset 39 under 'r'.",
    );
    const second = receiver(stream, ['--name', 'r', '--count', '60']);
    expect((await second.exited).code).toBe(0);
    expect(second.lines.join('\n')).toContain("from offset 40, after the offset stored under 'r'");
    expect(offsets(second)).toEqual(range(40, 99));
    expect(second.matching(/ \[x\] offset 99: message 100$/)).toHaveLength(1);
    // Another name starts from the first offset: each reader has its own place.
    const other = receiver(stream, ['--name', 'other', '--count', '5']);
    expect((await other.exited).code).toBe(0);
    expect(offsets(other)).toEqual(range(0, 4));
  });

  test('after a SIGKILL, the next run has no gap; its repeats are exactly what came after the last stored offset', async () => {
    const stream = own('offsets-kill');
    expect((await sendNumbered(stream, '--count', '1000')).code).toBe(0);
    const killed = receiver(stream, ['--name', 'k', '--store-every', '50']);
    await killed.waitFor(/ \[x\] offset 500: /);
    killed.kill('SIGKILL');
    await killed.exited;
    const printed = offsets(killed);
    const lastPrinted = printed.at(-1)!;
    const next = receiver(stream, ['--name', 'k', '--count', '10']);
    const resumedAt = Number(
      /from offset (\d+), after the offset stored/.exec(await next.waitFor(/ \[\*\] Reading /))![1],
    );
    expect((await next.exited).code).toBe(0);
    // No gap: the second run starts at or before the first one's last line.
    expect(resumedAt).toBeLessThanOrEqual(lastPrinted + 1);
    expect(offsets(next)).toEqual(range(resumedAt, resumedAt + 9));
    // The repeats are the messages after the last stored offset: fewer than two --store-every.
    const repeats = lastPrinted + 1 - resumedAt;
    expect(repeats).toBeGreaterThanOrEqual(0);
    expect(repeats).toBeLessThan(100);
    expect(resumedAt % 50).toBe(0); // stored every 50 messages: offsets 49, 99, … were stored
  });

  test('--producer-name: a sender run again does not append what it appended before', async () => {
    const stream = own('dedup');
    expect((await sendNumbered(stream, '--count', '50', '--producer-name', 'p')).code).toBe(0);
    const again = await sendNumbered(stream, '--count', '80', '--producer-name', 'p');
    expect(again.code).toBe(0);
    expect(out(again)).toContain(
      " [=] producer 'p' had appended up to message 50 already: RabbitMQ dropped 50 duplicates and appended 30.",
    );
    const all = receiver(stream, ['--name', 'check', '--count', '80']);
    expect((await all.exited).code).toBe(0);
    const contents = all.matching(/ \[x\] offset \d+: /).map((line) => line.replace(/^.*: /, ''));
    expect(contents).toEqual(range(1, 80).map((n) => `message ${n}`));
    expect(await lastOffset(stream)).toBe(79);
  });

  test('a sender whose connection is cut says what was confirmed; run again with its producer name, the stream holds each message once', async () => {
    const stream = own('dedup-cut');
    const COUNT = 200_000;
    const port = new URL(settings().streamUrl).port || '5552';
    const proxy = await faultProxy(Number(port));
    let confirmedBefore = 0;
    try {
      const cut = start(
        program('offset-tracking-send'),
        ['--stream', stream, '--count', String(COUNT), '--producer-name', 'p'],
        {
          RABBITMQ_STREAM_URL: `rabbitmq-stream://guest:guest@127.0.0.1:${proxy.port}`,
        },
      );
      await cut.waitFor(/ \[\*\] Appending 200000 messages/);
      // Cut once the stream holds 20000 of them, as a reader of the stream sees them: mid-run.
      await appended(stream, 20_000);
      proxy.cut();
      const exit = await cut.exited;
      expect(exit.code).not.toBe(0);
      const sentence = cut.lines.join('\n');
      expect(sentence).toMatch(
        /The stream connection was lost after RabbitMQ had confirmed \d+ of 200000 messages: run the same command again: as producer 'p', only what RabbitMQ had not appended is appended\./,
      );
      expect(sentence).not.toMatch(/\n\s+at /); // no stack
      confirmedBefore = Number(/confirmed (\d+) of/.exec(sentence)![1]);
      expect(confirmedBefore).toBeLessThan(COUNT);
    } finally {
      await proxy.close();
    }
    const again = await sendNumbered(stream, '--count', String(COUNT), '--producer-name', 'p');
    expect(again.code).toBe(0);
    const dropped = Number(
      /RabbitMQ dropped (\d+) duplicates? and appended (\d+)/.exec(out(again))?.[1] ?? 0,
    );
    process.stderr.write(
      `\nsender cut: ${confirmedBefore} of ${COUNT} confirmed; the rerun dropped ${dropped} and appended ${COUNT - dropped}\n`,
    );
    // What the broker confirmed was appended: at least that much is dropped as duplicates.
    expect(dropped).toBeGreaterThanOrEqual(confirmedBefore);
    // No reader stored an offset here, so offsets count messages: exactly COUNT, each once.
    expect(await lastOffset(stream)).toBe(COUNT - 1);
  });

  test('without a producer name, the same run twice appends everything twice', async () => {
    const stream = own('no-dedup');
    expect((await sendNumbered(stream, '--count', '20')).code).toBe(0);
    expect((await sendNumbered(stream, '--count', '20')).code).toBe(0);
    expect(await lastOffset(stream)).toBe(39);
  });

  test('amqp-receive reads the same stream over AMQP 0-9-1, from an offset, with a prefetch and acks', async () => {
    const stream = own('amqp-read');
    expect((await sendNumbered(stream, '--count', '30')).code).toBe(0);
    const read = await runProgram(program('amqp-receive'), [
      '--stream',
      stream,
      '--offset',
      '10',
      '--count',
      '5',
    ]);
    expect(read.code).toBe(0);
    expect(out(read).match(/ \[x\] offset \d+: message \d+/g)).toEqual(
      range(10, 14).map((n) => ` [x] offset ${n}: message ${n + 1}`),
    );
    // Acks removed nothing.
    expect(await lastOffset(stream)).toBe(29);
  });

  test('a receiver whose stream connection is cut reconnects and goes on from the next offset: no gap', async () => {
    const stream = own('offsets-cut');
    expect((await sendNumbered(stream, '--count', '300')).code).toBe(0);
    const port = new URL(settings().streamUrl).port || '5552';
    const proxy = await faultProxy(Number(port));
    try {
      const r = receiver(stream, ['--name', 'c', '--count', '300'], {
        RABBITMQ_STREAM_URL: `rabbitmq-stream://guest:guest@127.0.0.1:${proxy.port}`,
      });
      await r.waitFor(/ \[x\] offset 100: /);
      proxy.cut();
      const exit = await r.exited;
      expect(exit.code).toBe(0);
      expect(
        r.matching(/ \[!\] The stream connection was lost after offset \d+: reconnecting/).length,
      ).toBeGreaterThanOrEqual(1);
      expect(
        r.matching(/ \[\*\] Reconnected: reading .* again from offset \d+, no gap\./).length,
      ).toBeGreaterThanOrEqual(1);
      expect(offsets(r)).toEqual(range(0, 299));
    } finally {
      await proxy.close();
    }
  });
});

describe('retention: whole segments go, never single messages', () => {
  const MESSAGE = 100;
  const SEGMENT = 100_000;
  /** retention's run: how many messages each removal took, and where the stream starts at the end. */
  async function fill(stream: string, flags: string[]) {
    const exit = await runProgram(program('retention'), [
      '--stream',
      stream,
      '--segment-bytes',
      String(SEGMENT),
      '--size',
      String(MESSAGE),
      '--batch',
      '1000',
      ...flags,
    ]);
    expect(exit.code).toBe(0);
    const removals = [...out(exit).matchAll(/retention removed offsets \d+–\d+ \((\d+) messages\)/g)].map(
      (match) => Number(match[1]),
    );
    const kept = /the stream keeps offsets (\d+)–(\d+)/.exec(out(exit));
    return { removals, first: Number(kept?.[1]), last: Number(kept?.[2]) };
  }
  /** Every offset from `first` to `last` is still there, in order: nothing was removed from the middle. */
  async function expectContiguous(stream: string, first: number, last: number) {
    const r = receiver(stream, ['--name', 'check', '--offset', 'first', '--count', String(last - first + 1)]);
    expect((await r.exited).code).toBe(0);
    expect(offsets(r)).toEqual(range(first, last));
  }
  // A segment of 100 kB holds about 1000 messages of 100 bytes: a removal of fewer than half that
  // would mean messages went one by one.
  const aSegment = (SEGMENT / MESSAGE) * 0.5;

  test('--max-length-bytes 300000: the stream keeps between 200 and 500 kB, removed a segment at a time', async () => {
    const stream = own('retention-bytes');
    const { removals, first, last } = await fill(stream, ['--max-length-bytes', '300000', '--batches', '10']);
    expect(last).toBe(9999);
    expect(removals.length).toBeGreaterThanOrEqual(3);
    for (const removed of removals) expect(removed).toBeGreaterThanOrEqual(aSegment);
    const keptBytes = (last - first + 1) * MESSAGE;
    expect(keptBytes).toBeGreaterThanOrEqual(300_000 - SEGMENT);
    expect(keptBytes).toBeLessThanOrEqual(300_000 + 2 * SEGMENT);
    await expectContiguous(stream, first, last);
  });

  test('--max-age 2s: segments older than that go once new ones are written', async () => {
    const stream = own('retention-age');
    const { removals, first, last } = await fill(stream, [
      '--max-age',
      '2s',
      '--batches',
      '6',
      '--pause',
      '1',
    ]);
    expect(removals.length).toBeGreaterThanOrEqual(1);
    for (const removed of removals) expect(removed).toBeGreaterThanOrEqual(aSegment);
    expect(first).toBeGreaterThan(0);
    await expectContiguous(stream, first, last);
  });

  test('without a limit nothing is removed', async () => {
    const stream = own('retention-none');
    const { removals, first, last } = await fill(stream, ['--batches', '4']);
    expect(removals).toEqual([]);
    expect([first, last]).toEqual([0, 3999]);
  });
});

describe('bad input: one sentence, a non-zero exit, no stack', () => {
  const refused = async (
    name: string,
    args: string[],
    sentence: RegExp,
    env: NodeJS.ProcessEnv = {},
    secret?: string,
  ) => {
    const exit = await runProgram(program(name), args, env);
    expect(exit.code).not.toBe(0);
    // The program's own lines in its voice ( [*] …) may come first; then one sentence.
    const said = exit.stderr.split('\n').filter((line) => !line.startsWith(' ['));
    expect(expectOneSentence(said.join('\n'), secret)).toEqual([]);
    expect(exit.stderr).toMatch(sentence);
  };

  test('--offset negative, not an offset, or beyond the end', async () => {
    const stream = own('bad-offset');
    expect((await sendNumbered(stream, '--count', '10')).code).toBe(0);
    await refused(
      'offset-tracking-receive',
      ['--stream', stream, '--offset', '-5'],
      /--offset -5 is negative/,
    );
    await refused(
      'offset-tracking-receive',
      ['--stream', stream, '--offset', 'soon'],
      /--offset 'soon' is not an offset: use first, last, next/,
    );
    await refused('amqp-receive', ['--stream', stream, '--offset', 'abc'], /--offset 'abc' is not an offset/);
    await refused(
      'offset-tracking-receive',
      ['--stream', stream, '--offset', '500'],
      /--offset 500 is beyond the end of .*, whose last message is at offset 9: use a number from 0 to 10, or next\./,
    );
  });

  test('retention --max-age not an age', async () => {
    await refused(
      'retention',
      ['--max-age', '10 minutes'],
      /--max-age '10 minutes' is not an age RabbitMQ reads/,
    );
  });

  test('--name empty or over 255 bytes, --count 0', async () => {
    await refused('offset-tracking-receive', ['--name', ''], /--name is empty/);
    await refused('offset-tracking-receive', ['--name', 'x'.repeat(300)], /--name is 300 bytes long/);
    await refused('offset-tracking-send', ['--count', '0'], /--count/);
  });

  test('a stream name that is already a classic queue', async () => {
    const queue = own('classic');
    await rabbit.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await refused(
      'send',
      ['--stream', queue],
      /A queue or stream of that name already exists with other settings/,
    );
  });

  test('the stream port closed: says so, and never the password', async () => {
    await refused(
      'send',
      [],
      /Could not connect to RabbitMQ's stream protocol at rabbitmq-stream:\/\/guest:\*\*\*@127\.0\.0\.1:1 \(connection refused\): is the stream plugin on\?/,
      { RABBITMQ_STREAM_URL: 'rabbitmq-stream://guest:s3cret-pw@127.0.0.1:1' },
      's3cret-pw',
    );
  });

  test('a wrong password or virtual host in RABBITMQ_STREAM_URL: says which, never the password', async () => {
    const { hostname, port } = new URL(settings().streamUrl);
    await refused(
      'send',
      [],
      /RabbitMQ refused the login: check the user name and password in RABBITMQ_STREAM_URL/,
      { RABBITMQ_STREAM_URL: `rabbitmq-stream://guest:s3cret-pw@${hostname}:${port || 5552}` },
      's3cret-pw',
    );
    await refused(
      'offset-tracking-receive',
      [],
      /RabbitMQ.* refused the virtual host: it does not exist or the user may not use it; fix the path at the end of RABBITMQ_STREAM_URL\./,
      { RABBITMQ_STREAM_URL: `rabbitmq-stream://guest:guest@${hostname}:${port || 5552}/no-such-vhost` },
    );
  });

  test('an AMQP 0-9-1 consumer of a stream without a prefetch', async () => {
    const stream = own('no-prefetch');
    expect((await sendNumbered(stream, '--count', '1')).code).toBe(0);
    await refused(
      'amqp-receive',
      ['--stream', stream, '--prefetch', '0'],
      /a stream's AMQP 0-9-1 consumer must set a prefetch first/,
    );
  });
});
