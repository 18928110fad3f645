// Lesson 05's failover drill on a private RabbitMQ node (slot 5): AMQP_URL lists the private node
// first and the main broker second; the private node is killed (SIGKILL) while the producer and the
// consumer run. Both carry on against the main broker; what the dead node held is counted when it
// comes back.
import { afterEach, expect, test } from '@jest/globals';
import { brokerUrl } from '../shared/connection.ts';
import { usePrivateBroker } from '../test/private-broker.ts';
import { account, expectQuiet, ids, ready } from '../test/scenes/05-performance.ts';
import { drainQueue, eventually, type Running, start, stopAll, uniqueName, within } from '../test/testing.ts';

const node = usePrivateBroker(5);
const rows = (program: Running) => program.stdout.split('\n').length - 1;

afterEach(stopAll);

test('(c′) the private node of AMQP_URL is killed mid-run: producer and consumer fail over to the main broker and finish; nothing confirmed is lost', async () => {
  const queue = uniqueName('drill-failover');
  const main = brokerUrl();
  const env = { AMQP_URL: `${node.amqpUrl},${main}`, RABBITMQ_MANAGEMENT_URL: node.managementUrl };
  // Classic queues: a one-node quorum queue on 3.10.8 does not come back after its node's SIGKILL.
  const c = start('05-performance/consumer', ['--queue', queue, '--queue-type', 'classic'], env);
  await c.waitFor(/consumer: 1 worker/);
  const p = start('05-performance/producer', ['--queue', queue, '--count', '30000', '--run-id', 'f'], env);
  await eventually(async () => rows(c) >= 3000, 'the consumer’s first 3000 rows');
  await node.kill();
  const crash = Date.now();
  await Promise.all([within(60, p, p.waitFor(/reconnected to/)), within(60, c, c.waitFor(/reconnected to/))]);
  const recoverMs = Date.now() - crash;
  const produced = await within(120, p, p.exited);
  // The consumer runs until Ctrl+C: stop it once the main broker's queue is empty.
  await eventually(async () => (await ready(main, queue)).messages === 0, 'the main queue drained', 120);
  c.child.kill('SIGINT');
  const consumed = await within(60, c, c.exited);
  const leftOnMain = (await drainQueue(main, queue)).ids;
  await node.start(); // what the dead node had on disk comes back with it
  const leftOnPrivate = (await drainQueue(node.amqpUrl, queue)).ids;
  const confirmed = ids(produced.stdout);
  const handled = ids(consumed.stdout);
  const { lost, duplicates } = account(confirmed, [handled], [...leftOnMain, ...leftOnPrivate]);
  process.stderr.write(
    `DRILL 05 failover: confirmed ${confirmed.length}, consumed ${handled.length}, left on main ${leftOnMain.length}, on the killed node ${leftOnPrivate.length}, duplicates ${duplicates}, lost ${lost.length}, recovery ${recoverMs} ms\n`,
  );
  expect(produced.code).toBe(0);
  expect(consumed.code).toBe(130);
  expect(new Set(confirmed).size).toBe(30_000);
  expect(lost).toEqual([]);
  expect(p.stderr).toContain(`reconnected to ${main.replace(/:[^:@/]*@/, ':***@')}`);
  expectQuiet(p, c);
});
