// Lesson 07's promises, proven on the three-node cluster (npm run cluster -- up, started here if it
// is not running): nodes are killed, stopped and restarted under a streaming producer, and every
// confirmed id is then counted out of the queue. Runs alone (npm run test:cluster): it kills nodes.
import { describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { clusterNode, queueDetails, queueLeader, startNode } from '../scripts/cluster.ts';
import { clusterNodeNumbers, clusterUrl } from '../shared/course-cluster.ts';
import { parseOptions } from '../shared/flags.ts';
import type { RunContext } from '../shared/program.ts';
import { amqpUrl, runningNode, useCluster } from '../test/scenes/cluster.ts';
import { captureLog, eventually, start } from '../test/testing.ts';
import { consumeMessages, program as consumerProgram } from './consumer.ts';
import { type ProduceResult, produce, program as producerProgram, quorumQueue } from './producer.ts';

const context = (): RunContext => ({ log: captureLog().log, signal: new AbortController().signal });

// Connections a test opened, closed after it even when it fails (an open one keeps jest running).
const connections: amqp.ChannelModel[] = [];
const opened = (connection: amqp.ChannelModel) => {
  connections.push(connection);
  return connection;
};
const { ownQueue } = useCluster(async () => {
  for (const connection of connections.splice(0)) await connection.close().catch(() => {});
});

/** Declares a queue through node n, so that node leads it (or, for a classic queue, holds it). */
async function declareOn(n: number, prefix: string, options: amqp.Options.AssertQueue): Promise<string> {
  const queue = ownQueue(prefix);
  const connection = await amqp.connect(amqpUrl(n));
  await (await connection.createChannel()).assertQueue(queue, options);
  await connection.close();
  return queue;
}

function producerOptions(queue: string, runId: string, count: number) {
  return parseOptions(producerProgram, ['--queue', queue, '--count', String(count), '--run-id', runId]);
}

/** Reads the queue to the end: every id the producers confirmed must be there; duplicates are counted. */
async function readAll(queue: string, expected: Set<string>) {
  // A passive declare counts exactly (the management API's figures lag by up to 5 s).
  const connection = await amqp.connect(amqpUrl(runningNode()));
  let read: Awaited<ReturnType<typeof consumeMessages>>;
  let left: number;
  try {
    const channel = await connection.createChannel();
    const depth = (await channel.checkQueue(queue)).messageCount;
    read = await consumeMessages(
      parseOptions(consumerProgram, ['--queue', queue, '--count', String(depth)]),
      context(),
    );
    left = (await channel.checkQueue(queue)).messageCount;
  } finally {
    await connection.close().catch(() => {});
  }
  const { ids, duplicates } = read;
  return {
    consumed: ids.size,
    duplicates,
    left,
    missing: [...expected].filter((id) => !ids.has(id)).length,
    unexpected: [...ids].filter((id) => !expected.has(id)).length,
  };
}

const idsOf = (runId: string, count: number) =>
  new Set(Array.from({ length: count }, (_, i) => `${runId}-${i + 1}`));

function report(drill: string, result: ProduceResult, read: Awaited<ReturnType<typeof readAll>>) {
  process.stderr.write(
    `${drill}: confirmed ${result.confirmed}, consumed ${read.consumed}, duplicates ${read.duplicates}, missing ${read.missing}, republished ${result.republished}, reconnects ${result.reconnects}, stuck channels replaced ${result.stalls}, longest wait for a confirm ${Math.round(result.longestGapMs)} ms, ${Math.round(result.confirmed / result.seconds)} msg/s\n`,
  );
}

describe('a quorum queue on three nodes', () => {
  test('its leader killed (SIGKILL) while the producer streams 40,000 messages: every id confirmed, and every confirmed id consumed', async () => {
    const queue = await declareOn(1, 'cluster-leader', quorumQueue());
    const leader = await queueLeader(queue);
    // The producer's own node is the leader's: its connection dies with it, the worst case.
    process.env.AMQP_URL = clusterUrl(leader);
    let killed: Promise<void> | undefined;
    const result = await produce(producerOptions(queue, 'leader', 40_000), context(), {
      onConfirm: (confirmed) => {
        if (confirmed === 10_000) killed = clusterNode(leader).kill();
      },
    });
    await killed;
    expect(clusterNode(leader).pid()).toBeUndefined(); // it really died mid-run
    expect(result.confirmed).toBe(40_000);
    expect(result.reconnects).toBeGreaterThanOrEqual(1);
    expect(await queueLeader(queue)).not.toBe(leader);

    // Read with the old leader still down: two of three members are a majority.
    const read = await readAll(queue, idsOf('leader', 40_000));
    report('leader killed', result, read);
    expect(read).toMatchObject({ consumed: 40_000, missing: 0, unexpected: 0, left: 0 });
    await startNode(leader);
  }, 600_000);

  test('a follower killed while the producer streams 40,000 messages: no failover and no pause beyond 2 s', async () => {
    const queue = await declareOn(1, 'cluster-follower', quorumQueue());
    const leader = await queueLeader(queue);
    const follower = clusterNodeNumbers.find((n) => n !== leader)!;
    process.env.AMQP_URL = clusterUrl(leader);
    let killed: Promise<void> | undefined;
    const result = await produce(producerOptions(queue, 'follower', 40_000), context(), {
      onConfirm: (confirmed) => {
        if (confirmed === 10_000) killed = clusterNode(follower).kill();
      },
    });
    await killed;
    expect(clusterNode(follower).pid()).toBeUndefined();
    expect(result.confirmed).toBe(40_000);
    expect(result.reconnects).toBe(0);
    expect(result.stalls).toBe(0);
    // The leader and the other follower are still a majority: confirms keep coming. Measured here:
    // about 100-200 ms at worst (the same as without the kill); 2 s is below the producer's 3 s
    // stall timeout, so a pause that made it fail over would fail this test.
    expect(result.longestGapMs).toBeLessThan(2000);
    const read = await readAll(queue, idsOf('follower', 40_000));
    report('follower killed', result, read);
    expect(read).toMatchObject({ consumed: 40_000, missing: 0, unexpected: 0, left: 0 });
    await startNode(follower);
  }, 600_000);

  test('a rolling restart of all three nodes, one by one, under a streaming producer: nothing confirmed is lost', async () => {
    const queue = await declareOn(1, 'cluster-rolling', quorumQueue());
    const membersOnline = async () => ((await queueDetails(queue)).online?.length ?? 0) === 3;
    const total: ProduceResult = {
      confirmed: 0,
      republished: 0,
      reconnects: 0,
      stalls: 0,
      longestGapMs: 0,
      seconds: 0,
      confirmMs: [],
    };
    let restarting = true;
    // Confirmed so far at each node's stop: the load must go on past every one of them.
    const confirmedAtStop: number[] = [];
    const restart = (async () => {
      try {
        for (const n of clusterNodeNumbers) {
          confirmedAtStop.push(total.confirmed);
          await clusterNode(n).stop();
          await startNode(n);
          // The next node may stop only once this one's member has caught up: two down is no majority.
          await eventually(
            membersOnline,
            `the three members of ${queue} online after course${n} restarted`,
            120,
          );
        }
      } finally {
        restarting = false;
      }
    })();
    // Three producers, each starting on its own node, in rounds of 1,000 with 10 in flight (a
    // steady load, not a flood) until the restart is over: every node stops under a producer.
    const expected = new Set<string>();
    const producer = async (first: number) => {
      for (let round = 1; restarting; round++) {
        const runId = `rolling${first}.${round}`;
        const options = { ...producerOptions(queue, runId, 1000), maxInFlight: 10 };
        const result = await produce(options, context(), { urls: clusterUrl(first).split(',') });
        expect(result.confirmed).toBe(1000);
        for (const id of idsOf(runId, 1000)) expected.add(id);
        total.confirmed += result.confirmed;
        total.republished += result.republished;
        total.reconnects += result.reconnects;
        total.stalls += result.stalls;
        total.longestGapMs = Math.max(total.longestGapMs, result.longestGapMs);
      }
    };
    const started = performance.now();
    await Promise.all(clusterNodeNumbers.map(producer));
    total.seconds = (performance.now() - started) / 1000;
    await restart;
    // Each node went away under load: messages were confirmed after every stop. (Whether a producer
    // *reconnects* depends on timing: a round that starts while a node is down simply connects to
    // the next node of its list.)
    for (const before of confirmedAtStop) expect(total.confirmed).toBeGreaterThan(before);
    expect(confirmedAtStop).toHaveLength(3);
    const read = await readAll(queue, expected);
    report('rolling restart', total, read);
    expect(read).toMatchObject({ consumed: expected.size, missing: 0, unexpected: 0, left: 0 });
  }, 900_000);
});

describe('a quorum queue without a majority (two of three nodes killed)', () => {
  /** A queue led by course1 whose two followers are dead: nothing can be confirmed. */
  async function queueWithoutMajority(prefix: string): Promise<string> {
    const queue = await declareOn(1, prefix, quorumQueue());
    expect(await queueLeader(queue)).toBe(1);
    await Promise.all([clusterNode(2).kill(), clusterNode(3).kill()]);
    return queue;
  }
  const producer = (queue: string, ...flags: string[]) =>
    start('07-clusters/producer', ['--queue', queue, '--count', '1000', '--confirm-timeout', '1', ...flags], {
      AMQP_URL: clusterUrl(1),
    });

  test('Ctrl+C stops the producer within its confirm timeout, exit 130, with the unconfirmed count', async () => {
    const running = producer(await queueWithoutMajority('cluster-nomajority-stop'));
    await running.waitFor(/No confirm for 1 s: a new channel/);
    running.kill('SIGINT');
    const exit = await running.exited;
    expect(exit.code).toBe(130);
    expect(exit.stderr).toMatch(/ 0 of 1000 confirmed .*; \d+ sent but unconfirmed at Ctrl\+C/);
    expect(exit.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  test('left alone, it gives up after --give-up-after with one sentence naming the missing majority', async () => {
    const running = producer(
      await queueWithoutMajority('cluster-nomajority-give-up'),
      '--give-up-after',
      '4',
    );
    const exit = await running.exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim().split('\n').at(-1)).toMatch(
      /^No confirm for 4 s on any channel: the quorum queue '.*' has no majority of its members running .* 0 of 1000 were confirmed, \d+ sent but unconfirmed\./,
    );
  }, 120_000);
});

describe('a classic queue (not replicated) on a killed node', () => {
  test('a durable one is unavailable until its node is back, then has its messages; a transient one is gone; publishes meanwhile are dropped', async () => {
    const durable = await declareOn(3, 'cluster-classic-durable', { durable: true });
    const transient = await declareOn(3, 'cluster-classic-transient', { durable: false });
    const connection = await amqp.connect(amqpUrl(3));
    connection.on('error', () => {}); // it dies with its node
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < 1000; i++) {
      channel.sendToQueue(durable, Buffer.from(`${i}`), { persistent: true });
      channel.sendToQueue(transient, Buffer.from(`${i}`), { persistent: true });
    }
    await channel.waitForConfirms();
    expect(await queueLeader(durable)).toBe(3);

    await clusterNode(3).kill();
    const survivor = opened(await amqp.connect(amqpUrl(1)));
    const check = async (queue: string) => {
      const probe = await survivor.createChannel();
      probe.on('error', () => {});
      return probe.checkQueue(queue).then(
        (ok) => ok.messageCount,
        (error: Error) => error.message,
      );
    };
    // Unavailable: the queue (and its 1,000 messages) lives on course3 only.
    expect(await check(durable)).toMatch(/404.*home node 'course3@localhost' of durable queue .* is down/);
    // A transient queue dies with its node: the other nodes delete it, messages and all.
    expect(
      await eventually(
        async () => /404.*no queue/.test(String(await check(transient))),
        'transient queue gone',
      ),
    ).toBe(true);
    // Published meanwhile: the broker confirms, but there is no queue process to take them; only
    // mandatory tells the publisher (a basic.return), without it they are silently dropped.
    const publisher = await survivor.createConfirmChannel();
    let returned = 0;
    publisher.on('return', () => returned++);
    for (let i = 0; i < 100; i++)
      publisher.sendToQueue(durable, Buffer.from('late'), { persistent: true, mandatory: true });
    await publisher.waitForConfirms();
    expect(returned).toBe(100);

    await startNode(3);
    expect(await check(durable)).toBe(1000); // persistent messages were on course3's disk
    expect(await check(transient)).toMatch(/404.*no queue/);
    process.stderr.write(
      `classic queue on a killed node: durable 1000 published, unavailable (404) while down, 1000 after restart, 100 published meanwhile returned; transient 1000 published, 0 after (queue deleted)\n`,
    );
  }, 600_000);
});
