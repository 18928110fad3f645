// Lesson 05's producer and consumer on the three-node cluster (issue 16.3): they are started as the
// learner starts them (node --import tsx 05-performance/…, AMQP_URL listing the three nodes; a
// child process, not an import), and the leader of their quorum queue is killed mid-run. Their CSVs
// are the evidence: every id the producer's CSV lists as confirmed must be in the consumer's CSV.
// Runs alone (npm run test:cluster): it kills a node.
import { expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { clusterNode, queueDetails, queueLeader, startNode } from '../scripts/cluster.ts';
import { clusterNodeNumbers, clusterUrl } from '../shared/course-cluster.ts';
import { amqpUrl, useCluster } from '../test/scenes/cluster.ts';
import { start, stopAll, within } from '../test/testing.ts';

const { ownQueue } = useCluster(stopAll);

/** The rows of a CSV lesson 05 wrote (message_id,…_at,acked_at). */
const rows = (csv: string) =>
  csv
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, , ackedAt] = line.split(',');
      return { id: id!, ackedAt: Number(ackedAt) };
    });

/** Messages in the queue, by a passive declare through node n (exact, unlike the management API). */
async function depth(n: number, queue: string): Promise<number> {
  const connection = await amqp.connect(amqpUrl(n));
  try {
    return (await (await connection.createChannel()).checkQueue(queue)).messageCount;
  } finally {
    await connection.close();
  }
}

test('lesson 05: the leader of its quorum queue killed (SIGKILL) while the producer streams 40,000 confirmed messages through the three nodes: every id confirmed, every confirmed id consumed', async () => {
  const queue = ownQueue('cluster-05');
  // Declared as lesson 05 declares it (durable, x-queue-type quorum), so the programs' own
  // assertQueue agrees; on a three-node cluster a quorum queue gets a member on every node.
  const setup = await amqp.connect(amqpUrl(1));
  await (await setup.createChannel()).assertQueue(queue, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum' },
  });
  await setup.close();
  expect((await queueDetails(queue)).members).toHaveLength(3);
  const leader = await queueLeader(queue);
  const follower = clusterNodeNumbers.find((n) => n !== leader)!;

  // The leader first in AMQP_URL: the producer's connection dies with the leader, and it
  // reconnects to a survivor, maybe before the election is over. On 3.10 a channel opened then
  // keeps publishing to the dead leader (every message nacked); the producer replaces a channel
  // that gets only nacks for 3 s, and the next one reaches the new leader.
  const producer = start(
    '05-performance/producer',
    ['--queue', queue, '--queue-type', 'quorum', '--count', '40000', '--run-id', 'l05'],
    { AMQP_URL: clusterUrl(leader) },
  );
  let confirmedSoFar = 0;
  let killedAt = 0;
  let killed: Promise<void> | undefined;
  producer.child.stdout?.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) confirmedSoFar++;
    if (confirmedSoFar >= 10_000 && !killed) {
      killedAt = Date.now();
      killed = clusterNode(leader).kill();
    }
  });
  const produced = await within(120, producer, producer.exited);
  await killed;
  expect(killed).toBeDefined(); // the kill happened mid-run, not after
  expect(clusterNode(leader).pid()).toBeUndefined();
  expect(produced.code).toBe(0);
  expect(produced.stderr).toMatch(/reconnected to amqp:\/\/guest:\*\*\*@localhost:567[345]/);
  const confirmed = rows(produced.stdout);
  const confirmedIds = new Set(confirmed.map((row) => row.id));
  expect(confirmed).toHaveLength(40_000); // each id confirmed once in the CSV
  expect(confirmedIds.size).toBe(40_000);
  // The pause the kill caused: the longest wait between two confirms from the kill on (acked_at
  // and Date.now() are both wall-clock milliseconds). Confirms already on their way at the kill
  // still arrive at once; the election shows as a gap after them.
  const acked = confirmed.map((row) => row.ackedAt).sort((x, y) => x - y);
  const afterKill = acked.filter((at) => at > killedAt);
  expect(afterKill.length).toBeGreaterThan(20_000); // killed mid-run, not near the end
  let pauseMs = 0;
  for (let i = acked.length - afterKill.length; i < acked.length; i++)
    pauseMs = Math.max(pauseMs, acked[i]! - Math.max(acked[i - 1] ?? killedAt, killedAt));

  // Read with the old leader still down: the two other members are a majority. The consumer takes
  // exactly what the queue holds (a message republished after a lost confirm may be there twice).
  const held = await depth(follower, queue);
  const consumer = start(
    '05-performance/consumer',
    ['--queue', queue, '--queue-type', 'quorum', '--count', String(held), '--batch', '100'],
    { AMQP_URL: clusterUrl(follower) },
  );
  const consumed = await within(120, consumer, consumer.exited);
  expect(consumed.code).toBe(0);
  const handled = rows(consumed.stdout).map((row) => row.id);
  const handledIds = new Set(handled);
  const missing = [...confirmedIds].filter((id) => !handledIds.has(id));
  const unexpected = [...handledIds].filter((id) => !confirmedIds.has(id));
  const duplicates = handled.length - handledIds.size;
  const left = await depth(follower, queue);
  process.stderr.write(
    `lesson 05, leader course${leader} killed: confirmed ${confirmedIds.size}, consumed ${handled.length} (${handledIds.size} distinct), duplicates ${duplicates}, missing ${missing.length}, left ${left}, longest wait for a confirm after the kill ${Math.round(pauseMs)} ms; producer said: ${producer.stderr.match(/\[✓\].*/)?.[0] ?? ''}\n`,
  );
  expect(missing).toEqual([]);
  expect(unexpected).toEqual([]);
  expect(left).toBe(0);
  for (const program of [producer, consumer]) {
    expect(program.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack
    expect(program.stderr).not.toContain(':guest@'); // no password
  }
  await startNode(leader);
}, 600_000);
