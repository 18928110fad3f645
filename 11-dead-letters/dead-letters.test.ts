// Lesson 11's promises, proven with new-task, worker and parking-lot run as a learner runs them.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { atLeast, brokerVersion } from '../test/broker-version.ts';
import {
  eventually,
  expectOneSentence,
  type Running,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
} from '../test/testing.ts';
import { names, parseDelays } from './topology.ts';

const rabbit = useTestConnection();

/** A queue name of this test, with everything the lesson derives from it deleted at the end. */
const own = (prefix: string, delays: number[] = []) => {
  const queue = uniqueName(prefix);
  const n = names(queue);
  rabbit.own(queue, n.parking, ...delays.map((ms) => n.retry(ms)));
  rabbit.ownExchange(n.dlx);
  return queue;
};
const newTask = (queue: string, ...args: string[]) =>
  runProgram('11-dead-letters/new-task', ['--queue', queue, ...args]);
const worker = (queue: string, ...flags: string[]): Running =>
  start('11-dead-letters/worker', ['--queue', queue, '--name', 'W', ...flags]);
const parkingLot = (queue: string, ...flags: string[]) =>
  runProgram('11-dead-letters/parking-lot', ['--queue', queue, ...flags]);
const ready = (w: Running) => w.waitFor(/ \[\*\] W waiting for tasks/);
const messages = async (queue: string) => (await rabbit.channel.checkQueue(queue)).messageCount;

describe('retries with back-off, then the parking lot', () => {
  test('1,000 tasks, 10 % flaky 2 and 1 % poison, --max-attempts 3: 990 done once, 10 parked with 3 attempts, 0 lost; a replay after the fix empties the lot', async () => {
    const delays = [200, 400];
    const queue = own('dl-counts', delays);
    const w = worker(queue, '--retry-delays', '0.2,0.4', '--count', '1000');
    await ready(w);
    const sent = await Promise.all([
      newTask(queue, '--count', '890', 'resize photo'),
      newTask(queue, '--count', '100', 'flaky 2: send mail'),
      newTask(queue, '--count', '10', 'poison: bad row'),
    ]);
    expect(sent.map((exit) => exit.code)).toEqual([0, 0, 0]);
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    const done = w.matching(/ \[x\] W done '/);
    expect(done).toHaveLength(990);
    expect(new Set(done.map((line) => line.replace(/ \(attempt \d\)$/, ''))).size).toBe(990);
    expect(w.matching(/done 'flaky 2: send mail #\d+' \(attempt 3\)$/)).toHaveLength(100);
    expect(w.matching(/ \[!\] W failed '.*retry in/)).toHaveLength(220);
    expect(w.matching(/ \[✗\] W parked 'poison: bad row #\d+' after 3 attempts: poison/)).toHaveLength(10);
    const summary = w.matching(/ \[✓\] W: 1000 settled: 990 done, 10 parked, 220 retries; retries came back/);
    expect(summary).toHaveLength(1);
    // Never earlier than asked; later by what the queue ahead of it holds, bounded on a busy machine.
    const [, low, high] = /between (-?[\d.]+) s and ([\d.]+) s late/.exec(summary[0]!) ?? [];
    expect(Number(low)).toBeGreaterThanOrEqual(0);
    expect(Number(high)).toBeLessThan(5);
    // Nothing lost: nothing left waiting anywhere but the 10 in the parking lot.
    expect(await messages(queue)).toBe(0);
    for (const ms of delays) expect(await messages(names(queue).retry(ms))).toBe(0);
    const listed = await parkingLot(queue);
    expect(listed.code).toBe(0);
    expect(
      listed.stderr.match(/'poison: bad row #\d+': poison: fails every attempt; 3 attempts; first failure/g),
    ).toHaveLength(10);
    expect(await messages(names(queue).parking)).toBe(10); // listing leaves them parked
    // The fix: poison succeeds now. Replayed, each is done at its first attempt, and the lot is empty.
    const replay = await parkingLot(queue, '--replay');
    expect(replay.stderr).toContain(` [✓] Replayed 10 tasks to ${queue}.`);
    const fixed = worker(queue, '--fixed', '--count', '10');
    expect((await fixed.exited).code).toBe(0);
    expect(fixed.matching(/ \[x\] W done 'poison: bad row #\d+' \(attempt 1\)$/)).toHaveLength(10);
    expect(await messages(names(queue).parking)).toBe(0);
  });
});

describe('the four reasons RabbitMQ dead-letters a message, each into the parking lot', () => {
  const parkedReason = async (queue: string, reason: string, count = 1) => {
    await eventually(async () => (await messages(names(queue).parking)) >= count, `${count} in the lot`);
    const listed = await parkingLot(queue);
    expect(
      listed.stderr.match(new RegExp(`dead-lettered by RabbitMQ from ${queue}, reason ${reason}`, 'g')),
    ).toHaveLength(count);
  };

  test('rejected: --on-failure reject', async () => {
    const queue = own('dl-rejected');
    const w = worker(queue, '--on-failure', 'reject', '--count', '1');
    await ready(w);
    await newTask(queue, 'poison: bad row');
    await w.exited;
    expect(w.stderr).toContain(
      " [✗] W rejected 'poison: bad row': poison: fails every attempt (dead-lettered)",
    );
    await parkedReason(queue, 'rejected');
  });

  test('expired: a task with --ttl-seconds that nobody took in time', async () => {
    const queue = own('dl-expired');
    expect((await newTask(queue, '--ttl-seconds', '0.05', 'resize photo')).code).toBe(0);
    await parkedReason(queue, 'expired');
  });

  test('maxlen: a work queue of --max-length 2 given 4 tasks drops (dead-letters) the 2 oldest', async () => {
    const queue = own('dl-maxlen');
    expect((await newTask(queue, '--max-length', '2', 'a', 'b', 'c', 'd')).code).toBe(0);
    await parkedReason(queue, 'maxlen', 2);
    expect(await messages(queue)).toBe(2);
  });

  test('delivery_limit: a work queue with --delivery-limit 2 dead-letters a task requeued after its 3rd delivery', async () => {
    const queue = own('dl-limit');
    const w = worker(queue, '--on-failure', 'requeue', '--delivery-limit', '2');
    await ready(w);
    await newTask(queue, 'poison: bad row');
    await parkedReason(queue, 'delivery_limit');
    expect(w.matching(/failed 'poison: bad row' \(delivery \d.*\): requeued/)).toHaveLength(3);
  });
});

describe('a requeue loop and the delivery limit of each version', () => {
  test('a task that always fails, requeued at once: RabbitMQ 4 stops it after 21 deliveries (limit 20); 3.10 never does', async () => {
    const queue = own('dl-loop');
    const w = worker(queue, '--on-failure', 'requeue', '--max-requeues', '25', '--prefetch', '1');
    await ready(w);
    await newTask(queue, 'poison: bad row');
    const version = brokerVersion(rabbit.connection);
    if (atLeast(version, 4)) {
      await eventually(async () => (await messages(names(queue).parking)) === 1, 'the task in the lot');
      expect(w.matching(/: requeued$/)).toHaveLength(21);
      expect((await parkingLot(queue)).stderr).toContain('reason delivery_limit');
    } else {
      const exit = await w.exited;
      expect(exit.code).toBe(0);
      expect(w.stderr).toContain("'poison: bad row' failed 26 times in a row (a requeue loop): stopping");
      expect(await messages(names(queue).parking)).toBe(0);
      expect(await messages(queue)).toBe(1); // still there, for the next worker to loop on
    }
  });
});

describe('at least once, and an idempotent worker', () => {
  const effectsFile = () => {
    const file = join(tmpdir(), `${uniqueName('effects')}.txt`);
    return {
      file,
      lines: () => readFileSync(file, 'utf8').split('\n').filter(Boolean),
      remove: () => rmSync(file, { force: true }),
    };
  };

  test.each([
    [false, 2],
    [true, 1],
  ])(
    'a worker killed after the work, before the ack: the task is done again (idempotent %s: effect made %i times)',
    async (idempotent, times) => {
      const queue = own('dl-twice');
      const effects = effectsFile();
      try {
        const flags = ['--effects', effects.file, ...(idempotent ? ['--idempotent'] : [])];
        const crasher = worker(queue, ...flags, '--crash-after-work');
        await ready(crasher);
        await newTask(queue, 'send mail');
        expect((await crasher.exited).signal).toBe('SIGKILL');
        const second = worker(queue, ...flags, '--count', '1');
        expect((await second.exited).code).toBe(0);
        expect(effects.lines()).toHaveLength(times);
        if (idempotent) expect(second.stderr).toContain("skipped 'send mail': its effect is already made");
      } finally {
        effects.remove();
      }
    },
  );
});

describe('bad inputs: one sentence, non-zero exit', () => {
  test.each([
    [['--max-attempts', '0'], '--max-attempts must be at least 1, not 0.'],
    [['--retry-delays', '5,-1'], '--retry-delays cannot hold a negative delay (-1): give 0 or more seconds.'],
    [
      ['--retry-delays', 'abc'],
      "--retry-delays must be seconds separated by commas, such as 1,5,30, not 'abc'.",
    ],
    [
      ['--retry-delays', '5000000'],
      'A retry delay of 5000000 s is beyond what a TTL can hold (4294967295 ms, about 49.7 days): give a shorter delay.',
    ],
  ])('worker %j', async (args, sentence) => {
    const exit = await runProgram('11-dead-letters/worker', args);
    expect(exit.code).toBe(2);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(exit.stderr.trim()).toBe(sentence);
  });

  test('a work queue left over without its dead-letter arguments: the sentence says what to delete', async () => {
    const queue = own('dl-406');
    await rabbit.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const exit = await runProgram('11-dead-letters/worker', ['--queue', queue]);
    expect(exit.code).toBe(1);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(exit.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(
        `The queue '${queue}' already exists with other settings .*delete it \\(rabbitmqctl delete_queue ${queue}`,
      ),
    );
  });

  test('parking-lot --replay with nothing parked', async () => {
    const queue = own('dl-empty');
    const exit = await parkingLot(queue, '--replay');
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim().split('\n').at(-1)).toBe(
      `Nothing is parked in ${names(queue).parking}: there is nothing to replay.`,
    );
  });

  test('delays parse to milliseconds, in order', () => {
    expect(parseDelays('1,5,30')).toEqual([1000, 5000, 30000]);
    expect(parseDelays('0.2, 0.4')).toEqual([200, 400]);
  });
});
