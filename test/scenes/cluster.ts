// What lesson 07's cluster tests share: the cluster up before them (npm run cluster -- up), every
// node running again after each test (a failed test may leave one killed), the queues they made
// deleted at the end, and a URL per node.
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import amqp from 'amqplib';
import { clusterNode, startNode, up } from '../../scripts/cluster.ts';
import { clusterNodeNumbers } from '../../shared/course-cluster.ts';
import { uniqueName } from '../testing.ts';

/** Node n's AMQP URL (course1 is on 5673, course2 on 5674, course3 on 5675). */
export const amqpUrl = (n: number) => clusterNode(n).amqpUrl;

/** A node that runs now (the first of the list that does). */
export const runningNode = () => clusterNodeNumbers.find((n) => clusterNode(n).pid() !== undefined) ?? 1;

/**
 * A run whose runner (npm run test:cluster, check) was SIGKILLed goes on as an orphan, restarting
 * nodes while the learner runs npm run cluster -- down or up: it ends itself when its parent goes.
 */
function orphanWatch(): void {
  const parent = process.ppid;
  const gone = () => {
    try {
      process.kill(parent, 0);
      return false;
    } catch {
      return true;
    }
  };
  setInterval(() => {
    if (process.ppid !== parent || gone()) {
      process.stderr.write('The runner of these tests was killed: they stop too.\n');
      process.kill(process.pid, 'SIGKILL');
    }
  }, 500).unref();
}

/**
 * Registers the hooks; `afterEachTest` runs first after each test (stop what the test started).
 * Returns `ownQueue`, which names a queue that is deleted after the file's tests.
 */
export function useCluster(afterEachTest: () => Promise<void> = async () => {}) {
  const queues: string[] = [];
  beforeAll(() => {
    orphanWatch();
    return up();
  }, 300_000);
  afterEach(async () => {
    await afterEachTest();
    for (const n of clusterNodeNumbers) if (clusterNode(n).pid() === undefined) await startNode(n);
  }, 300_000);
  afterAll(async () => {
    const connection = await amqp.connect(amqpUrl(runningNode()));
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue).catch(() => {});
    await connection.close();
  }, 300_000);
  return {
    ownQueue(prefix: string): string {
      const queue = uniqueName(prefix);
      queues.push(queue);
      return queue;
    },
  };
}
