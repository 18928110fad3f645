// Lesson 08's promises, proven by the real programs against the real broker: a fanout copies every
// line to every bound queue, a line no queue is bound to is dropped (and mandatory says so), an
// exclusive queue misses what was sent while away, a --queue keeps it, and the official tutorial's
// programs (written here in plain amqplib, as the tutorial writes them) talk with the course's.
import { describe, expect, test } from '@jest/globals';
import { expectOneSentence, runProgram, start, uniqueName, useTestConnection } from '../test/testing.ts';

const rabbit = useTestConnection();
const exchangeFor = (prefix: string) => rabbit.ownExchange(uniqueName(prefix));
const lines = (text: string) => text.split('\n').filter((line) => /^ \[x\] (?!Sent)/.test(line));

describe('publish/subscribe on a fanout exchange', () => {
  test('every receiver bound to the fanout gets every line, once, in order', async () => {
    const exchange = exchangeFor('logs');
    const receivers = [1, 2].map(() =>
      start('08-publish-subscribe/receive-logs', ['--exchange', exchange, '--count', '5']),
    );
    for (const receiver of receivers) await receiver.waitFor(/Waiting for logs in amq\.gen-/);
    const emit = await runProgram('08-publish-subscribe/emit-log', [
      '--exchange',
      exchange,
      '--count',
      '5',
      'info: hello',
    ]);
    expect(emit.code).toBe(0);
    expect(emit.stderr).toContain('RabbitMQ confirmed all 5 lines.');
    expect(emit.stderr).not.toContain('reached no queue');
    for (const receiver of receivers) {
      const exit = await receiver.exited;
      expect(exit.code).toBe(0);
      expect(lines(exit.stderr)).toEqual([1, 2, 3, 4, 5].map((n) => ` [x] info: hello #${n}`));
    }
  });

  test('a line published while no queue is bound is dropped: the emitter is told (mandatory, basic.return), and no queue bound later has it', async () => {
    const exchange = exchangeFor('logs');
    const emit = await runProgram('08-publish-subscribe/emit-log', ['--exchange', exchange, '--count', '3']);
    expect(emit.code).toBe(0);
    expect(emit.stderr).toContain(
      ` [!] 3 of 3 lines reached no queue: nothing was bound to ${exchange}, so RabbitMQ dropped them (start receive-logs first).`,
    );
    // A queue bound afterwards starts empty: the broker kept nothing for it.
    const { queue } = await rabbit.channel.assertQueue('', { exclusive: true });
    await rabbit.channel.bindQueue(queue, exchange, '');
    expect((await rabbit.channel.checkQueue(queue)).messageCount).toBe(0);
    await rabbit.channel.deleteQueue(queue);
  });

  test('the receiver queue is server-named, exclusive, and gone when the receiver ends', async () => {
    const exchange = exchangeFor('logs');
    const receiver = start('08-publish-subscribe/receive-logs', ['--exchange', exchange, '--count', '1']);
    const queue = /in (amq\.gen-[\w-]+),/.exec(await receiver.waitFor(/Waiting for logs/))![1]!;
    const probe = await rabbit.connection.createChannel();
    probe.on('error', () => {});
    // exclusive: another connection may not use it (405 RESOURCE_LOCKED).
    await expect(probe.checkQueue(queue)).rejects.toThrow(/RESOURCE_LOCKED/);
    await runProgram('08-publish-subscribe/emit-log', ['--exchange', exchange]);
    expect((await receiver.exited).code).toBe(0);
    const check = await rabbit.connection.createChannel();
    check.on('error', () => {});
    await expect(check.checkQueue(queue)).rejects.toThrow(/NOT_FOUND/);
  });

  test('a receiver that was away misses what was sent meanwhile; with --queue it gets it all', async () => {
    const exchange = exchangeFor('logs');
    const durable = rabbit.own(uniqueName('my-logs'));
    // Both subscribe once, then stop.
    const away = start('08-publish-subscribe/receive-logs', ['--exchange', exchange, '--count', '1']);
    const kept = start('08-publish-subscribe/receive-logs', [
      '--exchange',
      exchange,
      '--queue',
      durable,
      '--count',
      '1',
    ]);
    await away.waitFor(/Waiting for logs/);
    await kept.waitFor(/Waiting for logs/);
    await runProgram('08-publish-subscribe/emit-log', ['--exchange', exchange, 'before']);
    expect((await away.exited).code).toBe(0);
    expect((await kept.exited).code).toBe(0);
    // Sent while both are away: the durable queue keeps these; the exclusive queue died with its receiver.
    const meanwhile = await runProgram('08-publish-subscribe/emit-log', [
      '--exchange',
      exchange,
      '--count',
      '4',
      'meanwhile',
    ]);
    expect(meanwhile.stderr).not.toContain('reached no queue');
    const back = await runProgram('08-publish-subscribe/receive-logs', [
      '--exchange',
      exchange,
      '--queue',
      durable,
      '--count',
      '4',
    ]);
    expect(lines(back.stderr)).toEqual([1, 2, 3, 4].map((n) => ` [x] meanwhile #${n}`));
    const info = await rabbit.channel.checkQueue(durable);
    expect(info.messageCount).toBe(0);
    // A fresh exclusive receiver only sees what comes after it.
    const fresh = start('08-publish-subscribe/receive-logs', ['--exchange', exchange, '--count', '1']);
    await fresh.waitFor(/Waiting for logs/);
    await runProgram('08-publish-subscribe/emit-log', ['--exchange', exchange, 'after']);
    expect(lines((await fresh.exited).stderr)).toEqual([' [x] after']);
  });
});

describe("beside the official tutorial's programs (exchange declared durable: false, as they do)", () => {
  test("a tutorial receive_logs.js gets the course emitter's lines, and the course receiver gets a tutorial emit_log.js's", async () => {
    const exchange = exchangeFor('logs');
    // receive_logs.js, as the tutorial writes it.
    const tutorial = await rabbit.connection.createChannel();
    await tutorial.assertExchange(exchange, 'fanout', { durable: false });
    const q = await tutorial.assertQueue('', { exclusive: true });
    await tutorial.bindQueue(q.queue, exchange, '');
    const got: string[] = [];
    const all = new Promise<void>((resolve) => {
      void tutorial.consume(
        q.queue,
        (msg) => {
          if (msg) got.push(msg.content.toString());
          if (got.length === 2) resolve();
        },
        { noAck: true },
      );
    });
    const receiver = start('08-publish-subscribe/receive-logs', ['--exchange', exchange, '--count', '2']);
    await receiver.waitFor(/Waiting for logs/);
    expect(
      (await runProgram('08-publish-subscribe/emit-log', ['--exchange', exchange, 'from the course'])).code,
    ).toBe(0);
    // emit_log.js, as the tutorial writes it (no confirms; the receivers' lines say it arrived).
    const emitter = await rabbit.connection.createChannel();
    await emitter.assertExchange(exchange, 'fanout', { durable: false });
    emitter.publish(exchange, '', Buffer.from('from the tutorial'));
    await all;
    expect(got).toEqual(['from the course', 'from the tutorial']);
    expect(lines((await receiver.exited).stderr)).toEqual([' [x] from the course', ' [x] from the tutorial']);
    await tutorial.close();
    await emitter.close();
  });

  test('an exchange declared durable by someone else: one sentence naming the exchange and the fix (406)', async () => {
    const exchange = exchangeFor('logs');
    await rabbit.channel.assertExchange(exchange, 'fanout', { durable: true });
    const exit = await runProgram('08-publish-subscribe/emit-log', ['--exchange', exchange]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(
      `The exchange '${exchange}' already exists with other settings (durable is true, this program asks for false): delete it (rabbitmqctl delete_exchange ${exchange}`,
    );
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});

describe('mistakes end in one sentence, a non-zero exit, no stack', () => {
  test.each([
    [
      'a reserved amq. name (403)',
      ['--exchange', 'amq.mine'],
      1,
      /^The name 'amq\.mine' starts with 'amq\.'/,
    ],
    [
      'a name over 255 bytes',
      ['--exchange', 'x'.repeat(256)],
      2,
      /is 256 bytes long, and RabbitMQ's names stop at 255/,
    ],
    [
      'a name with a space',
      ['--exchange', 'my logs'],
      2,
      /--exchange 'my logs' contains ' ': use only letters/,
    ],
  ])('%s', async (_, args, code, sentence) => {
    for (const program of ['08-publish-subscribe/emit-log', '08-publish-subscribe/receive-logs']) {
      const exit = await runProgram(program, args);
      expect(exit.code).toBe(code);
      expect(exit.stderr).toMatch(sentence);
      expect(expectOneSentence(exit.stderr)).toEqual([]);
    }
  });

  test("redeclaring logs as direct: 406 names the exchange's type", async () => {
    const exchange = exchangeFor('logs');
    await rabbit.channel.assertExchange(exchange, 'direct', { durable: false });
    const exit = await runProgram('08-publish-subscribe/receive-logs', ['--exchange', exchange]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`(type is direct, this program asks for fanout)`);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
