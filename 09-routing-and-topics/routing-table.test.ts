// Lesson 09's routing claims, each cell checked by what real receivers got: one receive-logs-topic
// per pattern, one emit-log-topic per routing key, on the real broker. The table is the README's.
import { describe, expect, test } from '@jest/globals';
import { expectOneSentence, runProgram, start, uniqueName, useTestConnection } from '../test/testing.ts';

const rabbit = useTestConnection();

// Routing keys, and for each binding pattern the keys it receives (the README's table).
const keys = ['kern.critical', 'kern.info', 'cron.critical', 'kern', 'critical', 'kern.disk.critical', ''];
const table: Record<string, string[]> = {
  '#': ['kern.critical', 'kern.info', 'cron.critical', 'kern', 'critical', 'kern.disk.critical', ''],
  'kern.#': ['kern.critical', 'kern.info', 'kern', 'kern.disk.critical'],
  '#.critical': ['kern.critical', 'cron.critical', 'critical', 'kern.disk.critical'],
  'kern.*': ['kern.critical', 'kern.info'],
  '*.critical': ['kern.critical', 'cron.critical'],
  '*.*': ['kern.critical', 'kern.info', 'cron.critical'],
  'kern.#.critical': ['kern.critical', 'kern.disk.critical'],
  'kern.critical': ['kern.critical'],
  // One queue, two bindings: kern.critical matches both and still comes once.
  'kern.* *.critical': ['kern.critical', 'kern.info', 'cron.critical'],
};
// Every pattern above matches it: sent last, it tells each receiver that all before it has arrived.
const END = 'kern.critical';

describe('topic routing: routing keys × binding patterns', () => {
  test('each receiver gets exactly the keys its patterns match, once each (# matches zero words; two matching patterns, one copy)', async () => {
    const exchange = rabbit.ownExchange(uniqueName('topic_logs'));
    const receivers = Object.keys(table).map((patterns) => ({
      patterns,
      program: start('09-routing-and-topics/receive-logs-topic', [
        '--exchange',
        exchange,
        ...patterns.split(' '),
      ]),
    }));
    for (const { program } of receivers) await program.waitFor(/Waiting for .* in amq\.gen-/);
    for (const key of keys) {
      const exit = await runProgram('09-routing-and-topics/emit-log-topic', [
        '--exchange',
        exchange,
        key,
        `to ${key || '(empty)'}`,
      ]);
      expect(exit.code).toBe(0);
    }
    await runProgram('09-routing-and-topics/emit-log-topic', ['--exchange', exchange, END, 'end']);
    const got: Record<string, string[]> = {};
    for (const { patterns, program } of receivers) {
      await program.waitFor(new RegExp(` \\[x\\] ${END.replace('.', '\\.')}:'end'`));
      got[patterns] = program
        .matching(/^ \[x\] /)
        .filter((line) => !line.endsWith(":'end'"))
        .map((line) => /^ \[x\] (.*):'to /.exec(line)![1]!);
    }
    expect(got).toEqual(table);
  });

  test('a key no pattern matches is dropped, and the emitter says so (mandatory)', async () => {
    const exchange = rabbit.ownExchange(uniqueName('topic_logs'));
    const receiver = start('09-routing-and-topics/receive-logs-topic', ['--exchange', exchange, 'kern.*']);
    await receiver.waitFor(/Waiting for kern\.\* in/);
    const exit = await runProgram('09-routing-and-topics/emit-log-topic', [
      '--exchange',
      exchange,
      'cron.info',
      'nobody',
    ]);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain(
      ` [!] 1 of 1 reached no queue: no pattern bound to ${exchange} matches 'cron.info', so RabbitMQ dropped it.`,
    );
  });
});

describe('direct routing: the routing key must equal a binding key', () => {
  test('receive-logs-direct warning error gets warning and error lines, not info; info only reaches the info receiver', async () => {
    const exchange = rabbit.ownExchange(uniqueName('direct_logs'));
    const both = start('09-routing-and-topics/receive-logs-direct', [
      '--exchange',
      exchange,
      '--count',
      '2',
      'warning',
      'error',
    ]);
    const info = start('09-routing-and-topics/receive-logs-direct', [
      '--exchange',
      exchange,
      '--count',
      '1',
      'info',
    ]);
    await both.waitFor(/Waiting for warning, error logs in/);
    await info.waitFor(/Waiting for info logs in/);
    for (const [severity, text] of [
      ['info', 'Just saying hello'],
      ['warning', 'Disk 90% full'],
      ['error', 'Run. Run. Or it will explode.'],
    ] as const) {
      expect(
        (await runProgram('09-routing-and-topics/emit-log-direct', ['--exchange', exchange, severity, text]))
          .code,
      ).toBe(0);
    }
    expect((await both.exited).code).toBe(0);
    expect((await info.exited).code).toBe(0);
    expect(both.matching(/^ \[x\] /)).toEqual([
      " [x] warning:'Disk 90% full'",
      " [x] error:'Run. Run. Or it will explode.'",
    ]);
    expect(info.matching(/^ \[x\] /)).toEqual([" [x] info:'Just saying hello'"]);
  });

  test("a tutorial-style direct receiver (plain amqplib, direct_logs declared durable: false) gets the course emitter's error line", async () => {
    const exchange = rabbit.ownExchange(uniqueName('direct_logs'));
    const channel = await rabbit.connection.createChannel();
    await channel.assertExchange(exchange, 'direct', { durable: false });
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, exchange, 'error');
    const got = new Promise<string>((resolve) => {
      void channel.consume(queue, (msg) => msg && resolve(`${msg.fields.routingKey}:${msg.content}`), {
        noAck: true,
      });
    });
    expect(
      (await runProgram('09-routing-and-topics/emit-log-direct', ['--exchange', exchange, 'error', 'boom']))
        .code,
    ).toBe(0);
    expect(await got).toBe('error:boom');
    await channel.close();
  });
});

describe("beside the official tutorial's topic programs (topic_logs declared durable: false, as they do)", () => {
  test("the course's receive-logs-topic gets a tutorial-style emit_log_topic.js's line, and a tutorial-style receiver the course emitter's", async () => {
    const exchange = rabbit.ownExchange(uniqueName('topic_logs'));
    const receiver = start('09-routing-and-topics/receive-logs-topic', [
      '--exchange',
      exchange,
      '--count',
      '2',
      'kern.*',
    ]);
    await receiver.waitFor(/Waiting for kern\.\* in/);
    // receive_logs_topic.js "*.critical", as the tutorial writes it.
    const tutorial = await rabbit.connection.createChannel();
    await tutorial.assertExchange(exchange, 'topic', { durable: false });
    const { queue } = await tutorial.assertQueue('', { exclusive: true });
    await tutorial.bindQueue(queue, exchange, '*.critical');
    const got = new Promise<string>((resolve) => {
      void tutorial.consume(queue, (msg) => msg && resolve(`${msg.fields.routingKey}:${msg.content}`), {
        noAck: true,
      });
    });
    // emit_log_topic.js kern.info, as the tutorial writes it (no confirms).
    tutorial.publish(exchange, 'kern.info', Buffer.from('from the tutorial'));
    await receiver.waitFor(/ \[x\] kern\.info:'from the tutorial'/);
    expect(
      (
        await runProgram('09-routing-and-topics/emit-log-topic', [
          '--exchange',
          exchange,
          'kern.critical',
          'from the course',
        ])
      ).code,
    ).toBe(0);
    expect(await got).toBe('kern.critical:from the course');
    expect((await receiver.exited).code).toBe(0);
    expect(receiver.matching(/^ \[x\] /)).toEqual([
      " [x] kern.info:'from the tutorial'",
      " [x] kern.critical:'from the course'",
    ]);
    await tutorial.close();
  });
});

describe('mistakes end in one sentence, a non-zero exit, no stack', () => {
  test.each<[string, string, string[], RegExp]>([
    ['no severity given', 'receive-logs-direct', [], /^Give at least one severity to receive/],
    ['no pattern given', 'receive-logs-topic', [], /^Give at least one pattern to receive/],
    [
      'the pattern kern..critical (an empty word)',
      'receive-logs-topic',
      ['kern..critical'],
      /^The pattern 'kern\.\.critical' has an empty word .* never 'kern\.critical'; write 'kern\.\*\.critical'/,
    ],
    [
      'the pattern kern. (an empty last word)',
      'receive-logs-topic',
      ['kern.'],
      /^The pattern 'kern\.' has an empty word/,
    ],
    [
      'a routing key of 256 bytes',
      'emit-log-topic',
      ['k'.repeat(256)],
      /^The routing key is 256 bytes long, and RabbitMQ's keys stop at 255/,
    ],
    [
      'a binding pattern of 257 bytes',
      'receive-logs-topic',
      [`${'k.'.repeat(128)}x`],
      /^The binding pattern .* is 257 bytes long/,
    ],
    [
      'the reserved name amq.mine (403)',
      'emit-log-direct',
      ['--exchange', 'amq.mine', 'info'],
      /^The name 'amq\.mine' starts with 'amq\.'/,
    ],
  ])('%s', async (_, program, args, sentence) => {
    const exit = await runProgram(`09-routing-and-topics/${program}`, args);
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toMatch(sentence);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
