// Lesson 10's promises, proven with rpc-server and rpc-client processes run as a learner runs them.
import { describe, expect, test } from '@jest/globals';
import { brokerUrl } from '../shared/connection.ts';
import {
  type Exit,
  expectOneSentence,
  type Running,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
} from '../test/testing.ts';
import { fibonacci, MAX_N, parseRequest } from './rpc-server.ts';

const rabbit = useTestConnection();

const server = (queue: string, name: string, ...flags: string[]): Running =>
  start('10-rpc/rpc-server', ['--queue', queue, '--name', name, ...flags]);
const client = (queue: string, ...args: string[]): Running =>
  start('10-rpc/rpc-client', ['--queue', queue, ...args]);
/** The sentence a failing program ends with: its last line, and no stack anywhere. */
const lastLine = (exit: Exit) => {
  expect(exit.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  return exit.stderr.trim().split('\n').at(-1);
};
const ready = (s: Running) => s.waitFor(/awaiting RPC requests/);

describe('fibonacci', () => {
  test('exact past fib(78), where a JavaScript Number goes wrong, up to the bound', async () => {
    let [a, b] = [0, 1];
    for (let i = 0; i < 79; i++) [a, b] = [b, a + b];
    expect(await fibonacci(79)).toBe(14472334024676221n);
    expect(String(a)).not.toBe('14472334024676221'); // the Number is off
    expect(await fibonacci(30)).toBe(832040n);
    const big = String(await fibonacci(MAX_N));
    expect(big).toHaveLength(20899);
    expect(big.endsWith('3428746875')).toBe(true);
  });

  test('a request beyond the bound, or not a number, is an error sentence', () => {
    expect(parseRequest('100001', MAX_N)).toEqual({
      error: "fib(100001) is beyond this server's bound: it computes fib(n) for n ≤ 100000.",
    });
    expect(parseRequest('abc', MAX_N)).toEqual({
      error: "'abc' is not a whole number n ≥ 0: send n as decimal digits.",
    });
  });
});

describe('request/reply', () => {
  test.each(['direct', 'exclusive'])(
    'one request with --reply-queue %s: the tutorial lines, exit 0',
    async (replyQueue) => {
      const queue = rabbit.own(uniqueName('rpc'));
      const s = server(queue, 'A', '--count', '1');
      await ready(s);
      const exit = await client(queue, '30', '--reply-queue', replyQueue).exited;
      expect(exit.stderr).toMatch(/^ \[x\] Requesting fib\(30\) \(pid \d+\)\n \[\.\] Got 832040\n$/);
      expect(exit.code).toBe(0);
      expect((await s.exited).code).toBe(0);
      expect(s.stderr).toContain(' [.] A fib(30)');
    },
  );

  test('several at once: each reply line names its request; two servers share them', async () => {
    const queue = rabbit.own(uniqueName('rpc-many'));
    const [a, b] = [server(queue, 'A', '--delay-ms', '50'), server(queue, 'B', '--delay-ms', '50')];
    await Promise.all([ready(a), ready(b)]);
    const exit = await client(queue, '10', '20', '30', '40', '--concurrency', '4').exited;
    expect(exit.code).toBe(0);
    for (const [n, f] of [
      ['10', '55'],
      ['20', '6765'],
      ['30', '832040'],
      ['40', '102334155'],
    ])
      expect(exit.stderr).toContain(` [.] fib(${n}) = ${f}\n`);
    expect(exit.stderr).toMatch(
      / \[✓\] 4 of 4 answered in [\d.]+ s; redelivered to another server: 0; re-sent after a reconnect: 0; duplicate replies dropped: 0; unknown replies ignored: 0\./,
    );
    expect(a.matching(/\] A fib/).length).toBeGreaterThanOrEqual(1);
    expect(b.matching(/\] B fib/).length).toBeGreaterThanOrEqual(1);
  });

  test('no server: the request waits, the client gives up with one sentence, and a late server never computes it', async () => {
    const queue = rabbit.own(uniqueName('rpc-late'));
    await rabbit.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    const exit = await client(queue, '30', '--timeout-seconds', '1').exited;
    expect(exit.code).toBe(1);
    expect(lastLine(exit)).toBe(
      `No reply within 1 s to fib(30): start rpc-server on ${queue}, then ask again.`,
    );
    // The late server gets only the fresh request: the stale one expired in the queue.
    const s = server(queue, 'Late', '--count', '1');
    await ready(s);
    const fresh = await client(queue, '5').exited;
    expect(fresh.stderr).toContain(' [.] Got 5');
    await s.exited;
    expect(s.matching(/\] Late fib\(/)).toEqual([' [.] Late fib(5)']);
    expect(s.stderr).not.toContain('skipped'); // it never got there: the broker dropped it
  });

  test('a request whose deadline passed while it sat in a server’s hands is skipped, not computed', async () => {
    const queue = rabbit.own(uniqueName('rpc-stale'));
    await rabbit.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    rabbit.channel.sendToQueue(queue, Buffer.from('7'), {
      replyTo: 'nobody',
      headers: { 'x-deadline': Date.now() - 1 },
    });
    await rabbit.channel.waitForConfirms();
    const s = server(queue, 'S', '--count', '1');
    expect((await s.exited).code).toBe(0);
    expect(s.stderr).toContain(' [-] S skipped fib(7): its client stopped waiting');
    expect(s.stderr).not.toContain('S fib(7)');
  });

  test('error replies: beyond the bound, the client prints the server’s sentence and exits 1 (no timeout)', async () => {
    const queue = rabbit.own(uniqueName('rpc-err'));
    const s = server(queue, 'A', '--count', '1');
    await ready(s);
    const exit = await client(queue, '100001', '--timeout-seconds', '60').exited;
    expect(exit.code).toBe(1);
    expect(lastLine(exit)).toBe(
      "fib(100001) is beyond this server's bound: it computes fib(n) for n ≤ 100000.",
    );
  });

  test('error replies: a request that is not a number gets the server’s sentence as its reply', async () => {
    const queue = rabbit.own(uniqueName('rpc-nan'));
    const s = server(queue, 'A', '--count', '1');
    await ready(s);
    const { queue: replies } = await rabbit.channel.assertQueue('', { exclusive: true });
    const reply = new Promise<{ type?: string; body: string; id?: string }>((resolve) =>
      rabbit.channel.consume(
        replies,
        (m) =>
          m &&
          resolve({ type: m.properties.type, body: m.content.toString(), id: m.properties.correlationId }),
        { noAck: true },
      ),
    );
    rabbit.channel.sendToQueue(queue, Buffer.from('abc'), { replyTo: replies, correlationId: 'q1' });
    expect(await reply).toEqual({
      type: 'error',
      body: "'abc' is not a whole number n ≥ 0: send n as decimal digits.",
      id: 'q1',
    });
  });

  test('a server killed after taking a request, before replying: another server answers, once', async () => {
    const queue = rabbit.own(uniqueName('rpc-kill'));
    const doomed = server(queue, 'Doomed', '--delay-ms', '60000');
    await ready(doomed);
    const c = client(queue, '30');
    await doomed.waitFor(/Doomed fib\(30\)/);
    doomed.kill('SIGKILL');
    const rescuer = server(queue, 'Rescuer', '--count', '1');
    const exit = await c.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr.match(/Got 832040/g)).toHaveLength(1);
    await rescuer.exited;
    expect(rescuer.stderr).toContain(' [.] Rescuer fib(30) (redelivered)');
  });

  test('a server killed after replying, before acking: computed twice, the second reply dropped by correlation id', async () => {
    const queue = rabbit.own(uniqueName('rpc-dup'));
    const crasher = server(queue, 'Crasher', '--crash-after-reply');
    const second = server(queue, 'Second', '--delay-ms', '1000');
    await Promise.all([ready(crasher), ready(second)]);
    const exit = await client(queue, '30', '31', '32', '--concurrency', '3').exited;
    expect(exit.code).toBe(0);
    expect((await crasher.exited).signal).toBe('SIGKILL');
    // Each answered once at the client; the request the crasher had answered was computed again.
    for (const line of [' [.] fib(30) = 832040', ' [.] fib(31) = 1346269', ' [.] fib(32) = 2178309'])
      expect(exit.stderr.split('\n').filter((l) => l === line)).toHaveLength(1);
    expect(second.matching(/\(redelivered\)/)).toHaveLength(1);
    expect(exit.stderr).toContain(
      'redelivered to another server: 0; re-sent after a reconnect: 0; duplicate replies dropped: 1;',
    );
  });

  test('a reply to a client that is gone (exclusive queue): the server says it was dropped', async () => {
    const queue = rabbit.own(uniqueName('rpc-gone'));
    const s = server(queue, 'A', '--delay-ms', '2000');
    await ready(s);
    const exit = await client(queue, '30', '--reply-queue', 'exclusive', '--timeout-seconds', '0.5').exited;
    expect(exit.code).toBe(1);
    await s.waitFor(/could not be delivered \(its client is gone\): dropped\./);
  });
});

describe('the event loop and heartbeats', () => {
  // Heartbeats every second: a connection silent for about two of them is dead to the broker.
  const env = { AMQP_URL: `${brokerUrl()}?heartbeat=1` };
  const big = ['--max-n', '1000000'];

  test('a server that blocks the event loop for seconds (fib(1000000) in one go) is disconnected', async () => {
    const queue = rabbit.own(uniqueName('rpc-block'));
    const s = start('10-rpc/rpc-server', ['--queue', queue, '--name', 'Blocker', '--blocking', ...big], env);
    await ready(s);
    const c = client(queue, '1000000', '--timeout-seconds', '60');
    await s.waitFor(/Lost the connection to .*; reconnecting/);
    c.kill('SIGKILL');
  });

  test('the same request, computed in slices that yield to the event loop, is answered', async () => {
    const queue = rabbit.own(uniqueName('rpc-yield'));
    const s = start(
      '10-rpc/rpc-server',
      ['--queue', queue, '--name', 'Yielder', '--count', '1', ...big],
      env,
    );
    await ready(s);
    const exit = await start(
      '10-rpc/rpc-client',
      ['--queue', queue, '1000000', '--timeout-seconds', '60'],
      env,
    ).exited;
    expect(exit.stderr).toMatch(/Got 19532821287077577316…68996526838242546875 \(208988 digits\)/);
    expect(exit.code).toBe(0);
    expect(s.stderr).not.toContain('Lost the connection');
  });
});

describe('bad inputs: one sentence, non-zero exit', () => {
  test.each([
    [['-5'], "'-5' is not a whole number n ≥ 0: ask for fib(n) as in rpc-client 30."],
    [['abc'], "'abc' is not a whole number n ≥ 0: ask for fib(n) as in rpc-client 30."],
    [[], 'Say which fib(n) to ask for: rpc-client 30 (see --help).'],
    [['30', '--timeout-seconds', '0'], '--timeout-seconds must be at least 0.1, not 0.'],
    [['30', '--concurrency', '0'], '--concurrency must be at least 1, not 0.'],
  ])('rpc-client %j', async (args, sentence) => {
    const exit = await runProgram('10-rpc/rpc-client', args);
    expect(exit.code).toBe(2);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(exit.stderr.trim()).toBe(sentence);
  });

  test('a second server on a queue declared with other arguments', async () => {
    const queue = rabbit.own(uniqueName('rpc-406'));
    const first = server(queue, 'A');
    await ready(first);
    const exit = await runProgram('10-rpc/rpc-server', ['--queue', queue, '--queue-type', 'quorum']);
    expect(exit.code).toBe(1);
    expect(lastLine(exit)).toMatch(new RegExp(`The queue '${queue}' already exists with other settings`));
  });
});
