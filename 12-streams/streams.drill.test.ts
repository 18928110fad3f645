// Lesson 12's fault drills on a private RabbitMQ node (slot 13, with the stream plugin): a reader
// that waits for new messages across a broker restart, over the stream protocol and over AMQP
// 0-9-1. 1000 messages before the restart, 1000 after; the reader must print each of the 2000
// once, in order (no gap, no repeat). The stream protocol's reader also stores the last offset it
// printed when stopped, and a next run with its name must start right after it.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { usePrivateBroker } from '../test/private-broker.ts';
import { type Running, runProgram, start, stopAll, uniqueName, within } from '../test/testing.ts';

const node = usePrivateBroker(13, undefined, { stream: true });
const env = () => ({
  AMQP_URL: node.amqpUrl,
  RABBITMQ_MANAGEMENT_URL: node.managementUrl,
  RABBITMQ_STREAM_URL: node.streamUrl,
});
const table: string[] = [];
afterEach(stopAll);
afterAll(() => {
  process.stderr.write(
    `\n| drill | appended | printed | distinct | gaps | repeats | reconnects | stored at the end | next run starts at |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n${table.join('\n')}\n`,
  );
});

const offsets = (r: Running) =>
  r.matching(/ \[x\] offset \d+: /).map((line) => Number(/offset (\d+):/.exec(line)![1]));
/** What the reader printed, message by message: its contents, which the test chose. */
const contents = (r: Running) => r.matching(/ \[x\] offset \d+: /).map((line) => line.replace(/^.*?: /, ''));
const numbered = (text: string, count: number) => Array.from({ length: count }, (_, i) => `${text} ${i + 1}`);

/** Appends "<text> 1" … "<text> <count>". */
async function append(stream: string, count: number, text: string) {
  const exit = await runProgram(
    '12-streams/offset-tracking-send',
    ['--stream', stream, '--count', String(count), text],
    env(),
  );
  expect(exit.code).toBe(0);
  expect(exit.stdout + exit.stderr).toContain(`RabbitMQ confirmed ${count} messages`);
}

describe('lesson 12 under faults', () => {
  test('the broker restarted while the reader waits for more: it reconnects and goes on where it was', async () => {
    const stream = uniqueName('drill-stream-restart');
    await append(stream, 1000, 'before');
    const reader = start(
      '12-streams/offset-tracking-receive',
      ['--stream', stream, '--name', 'd', '--store-every', '50'],
      env(),
    );
    await within(60, reader, reader.waitFor(/ \[x\] offset 999: before 1000$/));
    await node.ctl(['stop_app']);
    await within(30, reader, reader.waitFor(/ \[!\] The stream connection was lost after offset 999/));
    await node.ctl(['start_app']);
    await within(
      90,
      reader,
      reader.waitFor(/ \[\*\] Reconnected: reading .* again from offset 1000, no gap\./),
    );
    await append(stream, 1000, 'after');
    await within(60, reader, reader.waitFor(/ \[x\] offset \d+: after 1000$/));
    reader.kill('SIGINT'); // Ctrl+C: it stores the last offset it printed and says so
    expect((await reader.exited).code).toBe(130); // the shell's code for Ctrl+C
    const stored = Number(/stored offset (\d+) under 'd'/.exec(reader.lines.join('\n'))?.[1]);
    // The next run with the same name starts after the stored offset: with the next message.
    await append(stream, 10, 'next');
    const again = start(
      '12-streams/offset-tracking-receive',
      ['--stream', stream, '--name', 'd', '--count', '10'],
      env(),
    );
    const resumed = Number(
      /from offset (\d+), after the offset stored/.exec(await again.waitFor(/ \[\*\] Reading /))?.[1],
    );
    expect((await again.exited).code).toBe(0);

    const printed = contents(reader);
    const expected = [...numbered('before', 1000), ...numbered('after', 1000)];
    const distinct = new Set(printed);
    const missing = expected.filter((text) => !distinct.has(text)).length;
    const reconnects = reader.matching(/ \[\*\] Reconnected: /).length;
    table.push(
      `| broker restarted (stop_app, start_app) | 2000 | ${printed.length} | ${distinct.size} | ${missing} | ${printed.length - distinct.size} | ${reconnects} | ${stored} | ${resumed} |`,
    );
    expect(printed).toEqual(expected); // every message once, in order: no gap, no repeat
    // Offsets only grow. They are not 0–1999: each offset stored (every 50) took a place in the log.
    const seen = offsets(reader);
    expect(seen.every((offset, i) => i === 0 || offset > seen[i - 1]!)).toBe(true);
    expect(stored).toBe(seen.at(-1));
    expect(reconnects).toBeGreaterThanOrEqual(1); // a restart may close a new connection once more
    expect(reconnects).toBeLessThanOrEqual(5);
    expect(resumed).toBe(stored + 1);
    expect(contents(again)).toEqual(numbered('next', 10));
  });

  test('the broker restarted under amqp-receive: amqplib reconnects and it goes on from the next offset', async () => {
    const stream = uniqueName('drill-stream-amqp');
    await append(stream, 1000, 'before');
    const reader = start('12-streams/amqp-receive', ['--stream', stream], env());
    await within(60, reader, reader.waitFor(/ \[x\] offset 999: before 1000$/));
    await node.ctl(['stop_app']);
    await node.ctl(['start_app']);
    await within(90, reader, reader.waitFor(/Reconnected to .*; consuming from .* again\./));
    await append(stream, 1000, 'after');
    await within(60, reader, reader.waitFor(/ \[x\] offset \d+: after 1000$/));
    reader.kill('SIGINT');
    await reader.exited;

    const printed = contents(reader);
    const expected = [...numbered('before', 1000), ...numbered('after', 1000)];
    const distinct = new Set(printed);
    const missing = expected.filter((text) => !distinct.has(text)).length;
    const reconnects = reader.matching(/Reconnected to /).length;
    table.push(
      `| broker restarted under amqp-receive | 2000 | ${printed.length} | ${distinct.size} | ${missing} | ${printed.length - distinct.size} | ${reconnects} | (none: AMQP 0-9-1) | |`,
    );
    expect(printed).toEqual(expected);
    expect(reader.lines.join('\n')).toContain('from offset 1000');
  });
});
