// Drill: streams messages into a quorum queue on the cluster, kills the queue's leader mid-run
// (SIGKILL, as when its machine dies), reads the queue to the end, and prints the counts.

import { connect } from '../shared/connection.ts';
import { clusterUrl } from '../shared/course-cluster.ts';
import { defineProgram, parseOptions, type Values } from '../shared/flags.ts';
import { nowMs } from '../shared/pacer.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { killProcess, type Leader, leaderOf, startNode } from './cluster-nodes.ts';
import { consumeMessages, program as consumerProgram } from './consumer.ts';
import { produce, program as producerProgram } from './producer.ts';

export const program = defineProgram({
  name: 'drill',
  summary:
    'Kill the leader of a quorum queue while the producer streams; print what was confirmed and consumed.',
  flags: {
    count: { type: 'integer', min: 2, default: 40_000, description: 'messages to publish' },
    killAt: {
      type: 'integer',
      min: 1,
      default: 10_000,
      description: 'kill the leader after this many confirms',
    },
    restart: { type: 'boolean', default: true, description: 'start the killed node again at the end' },
  },
  examples: [
    'npm run cluster -- up && npm run lesson:07 -- drill',
    'npm run lesson:07 -- drill --kill-at 100',
  ],
});

export async function drill(options: Values<typeof program.flags>, context: RunContext) {
  const { log, signal } = context;
  process.env.AMQP_URL ||= clusterUrl(); // the drill is about the cluster: its three nodes by default
  const queue = `drill-${process.pid}`;
  const runId = `drill${process.pid}`;
  const killAt = Math.min(options.killAt, options.count - 1);
  let leader: Promise<Leader> | undefined;
  let killed: Promise<void> | undefined;
  let victim: number | undefined;
  let killedAt = 0;
  let resumedAt = 0;

  // Whatever happens (Ctrl+C, a failure), the killed node is started again and the queue deleted.
  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    if (victim !== undefined && options.restart) {
      log.info(` [*] Starting course${victim}@localhost again…`);
      await startNode(victim);
    }
    const connection = await connect({ log });
    await (await connection.channel()).deleteQueue(queue).catch(() => {});
    await connection.close();
  };

  try {
    const produced = await produce(
      parseOptions(producerProgram, ['--queue', queue, '--count', String(options.count), '--run-id', runId]),
      context,
      {
        onConfirm: (confirmed, at) => {
          if (confirmed === 1) {
            leader = leaderOf(queue); // the queue exists now: who leads it?
            leader.catch(() => {}); // awaited below, where a failure becomes the program's sentence
          }
          if (confirmed === killAt) {
            killed = (async () => {
              const { n, name, pid } = await leader!;
              log.warn(` [!] Killing ${name}, the leader of ${queue} (SIGKILL).`);
              killedAt = nowMs();
              await killProcess(pid);
              victim = n;
            })();
          }
          if (killedAt && !resumedAt && at > killedAt) resumedAt = at;
        },
      },
    );
    await killed;
    if (signal.aborted || victim === undefined) {
      log.warn(' [!] Stopped before the drill was complete: no counts to report.');
      return undefined;
    }

    // Read it all back while the old leader is still down: two of three members are a majority.
    const connection = await connect({ log });
    const depth = (await (await connection.channel()).checkQueue(queue)).messageCount;
    await connection.close();
    const read = await consumeMessages(
      parseOptions(consumerProgram, ['--queue', queue, '--count', String(depth)]),
      context,
    );
    const expected = Array.from({ length: options.count }, (_, i) => `${runId}-${i + 1}`);
    const missing = expected.filter((id) => !read.ids.has(id)).length;
    await cleanUp();

    const summary = {
      confirmed: produced.confirmed,
      consumed: read.ids.size,
      duplicates: read.duplicates,
      missing,
      republished: produced.republished,
      confirmedAgainAfterMs: resumedAt ? Math.round(resumedAt - killedAt) : undefined,
    };
    log.success(
      ` [✓] Leader course${victim} killed after ${killAt} confirms: ${summary.confirmed} confirmed, ${summary.consumed} consumed, ${summary.duplicates} duplicates, ${missing} missing; ${summary.republished} republished; the producer had a confirm again ${summary.confirmedAgainAfterMs ?? '?'} ms after the kill.`,
    );
    if (missing) process.exitCode = 1;
    return summary;
  } finally {
    await cleanUp().catch(() => {}); // after a failure: its own sentence matters more than this one
  }
}

runMain(import.meta, program, drill);
