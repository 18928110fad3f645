// Lesson 01's promises, proven against the real broker.
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parseOptions } from '../shared/flags.ts';
import { blocks, missingLine } from '../test/readme.ts';
import {
  captureLog,
  eventually,
  expectOneSentence,
  queueInfo,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
} from '../test/testing.ts';
import { receive, program as receiveProgram } from './receive.ts';
import { send, program as sendProgram } from './send.ts';

const rabbit = useTestConnection();

describe('hello world', () => {
  test('a message sent is received exactly once, unchanged', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    const message = `Hello ${uniqueName('world')}`;
    const { log, lines } = captureLog();
    await send(parseOptions(sendProgram, ['--queue', queue, '--message', message]), { log });
    expect(lines).toContain(` [x] Sent '${message}'`);

    const handled = await receive(parseOptions(receiveProgram, ['--queue', queue, '--count', '1']), {
      log,
      signal: new AbortController().signal,
    });
    expect(handled).toBe(1);
    expect(lines.filter((line) => line.includes('Received'))).toEqual([` [x] Received '${message}'`]);
    const { messageCount } = await rabbit.channel.checkQueue(queue);
    expect(messageCount).toBe(0);
  });

  test('a receiver started first gets the messages sent after it, then --count ends it cleanly', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    const receiver = start('01-hello-world/receive', ['--queue', queue, '--count', '3']);
    await receiver.waitFor(/Waiting for messages/);
    for (const n of [1, 2, 3])
      await runProgram('01-hello-world/send', ['--queue', queue, '--message', `message ${n}`]);
    const exit = await receiver.exited;
    expect(exit.code).toBe(0);
    expect(receiver.matching(/Received/)).toEqual([
      " [x] Received 'message 1'",
      " [x] Received 'message 2'",
      " [x] Received 'message 3'",
    ]);
  });

  test('messages beyond --count stay in the queue for the next receiver', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    for (const n of [1, 2, 3])
      await runProgram('01-hello-world/send', ['--queue', queue, '--message', `m${n}`]);
    const exit = await runProgram('01-hello-world/receive', ['--queue', queue, '--count', '1']);
    expect(exit.code).toBe(0);
    const { messageCount } = await rabbit.channel.checkQueue(queue);
    expect(messageCount).toBe(2);
  });

  test('the hello queue is a durable quorum queue, as the official tutorial declares it, on 3.10 and 4.x', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    expect((await runProgram('01-hello-world/send', ['--queue', queue])).code).toBe(0);
    const info = await eventually(
      async () => queueInfo(queue).catch(() => undefined),
      `${queue} in the management API`,
    );
    expect(info.durable).toBe(true);
    expect(info.exclusive).toBe(false);
    expect(info.type).toBe('quorum');
  });

  test('Ctrl+C closes the receiver cleanly with exit code 130', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    const receiver = start('01-hello-world/receive', ['--queue', queue]);
    await receiver.waitFor(/Waiting for messages/);
    receiver.kill('SIGINT');
    const exit = await receiver.exited;
    expect(exit.code).toBe(130);
    expect(exit.stderr).toContain('Goodbye');
    // The README's Ctrl+C block (the one the README test cannot type) is what a real Ctrl+C prints.
    const shown = blocks(join(import.meta.dirname, 'README.md')).outputs.find((block) =>
      block.reason?.includes('hello-world.test.ts'),
    );
    expect(shown).toBeDefined();
    // The test's queue has its own name, not hello: that one word is masked.
    expect(missingLine(shown?.body ?? [], exit.stdout + exit.stderr, [/ in \S+\. /])).toBeUndefined();
  });
});

describe('mistakes end in one sentence, a non-zero exit, no stack and no password', () => {
  test('broker not reachable', async () => {
    const exit = await runProgram('01-hello-world/send', [], { AMQP_URL: 'amqp://guest:secret@127.0.0.1:1' });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /Could not connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1 \(connection refused\).*npm run services/,
    );
    expect(expectOneSentence(exit.stderr, 'secret')).toEqual([]);
  });

  test('host not found', async () => {
    const exit = await runProgram('01-hello-world/send', [], {
      AMQP_URL: 'amqp://guest:secret@no-such-host.invalid',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/was not found/);
    expect(expectOneSentence(exit.stderr, 'secret')).toEqual([]);
  });

  test('wrong password', async () => {
    const exit = await runProgram('01-hello-world/send', [], {
      AMQP_URL: 'amqp://guest:wrong-secret@127.0.0.1:5672',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/refused the login for user 'guest'.*guest user only works from localhost/);
    expect(expectOneSentence(exit.stderr, 'wrong-secret')).toEqual([]);
  });

  test('unknown virtual host', async () => {
    const exit = await runProgram('01-hello-world/send', [], {
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672/no-such-vhost',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/virtual host 'no-such-vhost'.*add_vhost/);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });

  test('a queue redeclared with other arguments (406 PRECONDITION_FAILED)', async () => {
    const queue = rabbit.own(uniqueName('hello-transient'));
    // What the official tutorial's receive.js leaves behind: the same name, declared non-durable.
    await rabbit.channel.assertQueue(queue, { durable: false });
    const exit = await runProgram('01-hello-world/send', ['--queue', queue]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(
      `The queue '${queue}' already exists with other settings (durable is 'false', this program asks for 'true')`,
    );
    expect(exit.stderr).toContain(`rabbitmqctl delete_queue ${queue}`);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });

  test('a classic hello left by an older run (406 on x-queue-type)', async () => {
    const queue = rabbit.own(uniqueName('hello-classic'));
    // What an older version of this course left behind: the same name, a durable classic queue.
    await rabbit.channel.assertQueue(queue, { durable: true });
    const exit = await runProgram('01-hello-world/receive', ['--queue', queue, '--count', '1']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`The queue '${queue}' already exists with other settings (x-queue-type`);
    expect(exit.stderr).toContain(`rabbitmqctl delete_queue ${queue}`);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });

  test.each([
    [['--count', '-1'], /--count must be at least 1, not -1/],
    [['--count', 'abc'], /--count must be a whole number, not 'abc'/],
    [['--bogus'], /Unknown option --bogus/],
    [['extra'], /takes no arguments/],
  ])('bad flags %p exit 2', async (args, pattern) => {
    const exit = await runProgram('01-hello-world/receive', args);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});

describe('the lesson menu', () => {
  test('without a terminal it lists the programs and exits 2', async () => {
    const exit = await runProgram('scripts/lesson', ['01']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('Programs: receive, send');
  });

  test('--help lists the programs and exits 0; an unknown lesson names the last one', async () => {
    const help = await runProgram('scripts/lesson', ['12', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Programs: amqp-receive, offset-tracking-receive, offset-tracking-send');
    const unknown = await runProgram('scripts/lesson', ['99']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/There is no lesson 99: run npm run lesson:01 … lesson:1\d\./);
  });

  test('with a program name it runs it with the remaining flags', async () => {
    const queue = rabbit.own(uniqueName('hello'));
    const sent = await runProgram('scripts/lesson', [
      '01',
      'send',
      '--queue',
      queue,
      '--message',
      'via the menu',
    ]);
    expect(sent.code).toBe(0);
    const received = await runProgram('scripts/lesson', ['01', 'receive', '--queue', queue, '--count', '1']);
    expect(received.code).toBe(0);
    expect(received.stderr).toContain("Received 'via the menu'");
  });
});
