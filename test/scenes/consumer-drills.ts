// Fault drills for a consumer program, against a private node (test/private-broker.ts): (a) the broker
// closes the program's own connection, (b) the broker restarts, (c) with AMQP_URL listing the private
// node then the main broker, the private node is killed (SIGKILL). Each drill counts what the
// producer had confirmed against what the worker handled, checks --count was exact, counts
// duplicates, measures the time to recover, and checks nothing printed a stack or a password.
import { afterAll, afterEach, expect, test } from '@jest/globals';
import type { RabbitNode } from '../../scripts/rabbit-node.ts';
import { brokerUrl } from '../../shared/connection.ts';
import { maskUrl } from '../../shared/secrets.ts';
import {
  closeConnection,
  connectionNamed,
  drainQueue,
  type Exit,
  type Running,
  runProgram,
  start,
  stopAll,
  uniqueName,
  within,
} from '../testing.ts';

export interface DrillSubject {
  /** The lesson's consumer program and the connection name it gives itself for a --name. */
  program: string;
  connectionName: (name: string) => string;
  /** Sends `tasks` (each one dot of work) to `queue`; resolves with how many the broker confirmed. */
  send: (queue: string, tasks: string[], env: NodeJS.ProcessEnv, flags?: string[]) => Promise<number>;
  /** The task each "done" line names. */
  doneTasks: (worker: Running) => string[];
  /** A line that the worker printed when it finished a task. */
  donePattern: RegExp;
}

export interface DrillCounts {
  drill: string;
  confirmed: number;
  handled: number;
  unique: number;
  duplicates: number;
  leftInQueue: number;
  recoverMs: number;
  exitCode: number | null;
}

/** What the drills measured, for the report (printed once at the end of the file). */
export const measured: DrillCounts[] = [];

/**
 * Runs a sending program against a queue of its own that a policy makes refuse (nack) what is past
 * 10 messages, as a full queue with reject-publish does. Resolves with the program's exit and how
 * many messages the queue held; the queue and the policy are removed after.
 */
export async function sendPastLimit(
  node: RabbitNode,
  program: string,
  args: (queue: string) => string[],
): Promise<{ exit: Exit; queue: string; held: number }> {
  const queue = uniqueName('refusing');
  const policy = `refuse-${queue}`;
  const definition = JSON.stringify({ 'max-length': 10, overflow: 'reject-publish' });
  await node.ctl(['set_policy', policy, `^${queue}$`, definition, '--apply-to', 'queues']);
  try {
    const env = { AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl };
    const exit = await runProgram(program, args(queue), env);
    return { exit, queue, held: (await drainQueue(node.amqpUrl, queue)).ids.length };
  } finally {
    await node.ctl(['clear_policy', policy]);
  }
}

const tasks = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}.`);

function expectQuiet(worker: Running) {
  expect(worker.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack
  expect(worker.stderr).not.toContain('guest:guest'); // no password
}

/** Defines the three drills for one consumer program on one private node. */
export function defineDrills(subject: DrillSubject, node: RabbitNode): void {
  afterEach(stopAll);
  const mainQueues: string[] = [];
  afterAll(async () => {
    for (const queue of mainQueues) await drainQueue(brokerUrl(), queue).catch(() => {});
  });
  const only = () => ({ AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl });
  const worker = (queue: string, name: string, count: number, env: NodeJS.ProcessEnv, flags: string[] = []) =>
    start(
      subject.program,
      ['--queue', queue, '--name', name, '--seconds-per-dot', '0.1', '--count', `${count}`, ...flags],
      env,
    );

  const record = (drill: string, confirmed: number, w: Running, left: number, recoverMs: number) => {
    const done = subject.doneTasks(w);
    const counts: DrillCounts = {
      drill,
      confirmed,
      handled: done.length,
      unique: new Set(done).size,
      duplicates: done.length - new Set(done).size,
      leftInQueue: left,
      recoverMs,
      exitCode: w.child.exitCode,
    };
    measured.push(counts);
    process.stderr.write(`DRILL ${subject.program} ${JSON.stringify(counts)}\n`);
    return counts;
  };

  test('(a) the broker closes its connection mid-run: it reconnects, loses nothing, and stops at exactly --count', async () => {
    const queue = uniqueName('drill-closed');
    const name = `Closed${process.pid}`;
    const w = worker(queue, name, 30, only());
    const connection = await connectionNamed(node.managementUrl, subject.connectionName(name));
    const confirmed = await subject.send(queue, tasks('Task ', 40), only());
    await w.waitFor(subject.donePattern, 10);
    const cut = Date.now();
    await closeConnection(node.managementUrl, connection);
    await within(60, w, w.waitFor(/Reconnected/));
    const recoverMs = Date.now() - cut;
    const exit = await within(60, w, w.exited);
    const left = (await drainQueue(node.amqpUrl, queue)).ids.length;
    const counts = record('connection closed', confirmed, w, left, recoverMs);
    expect(exit.code).toBe(0);
    expect(confirmed).toBe(40);
    expect(counts.handled).toBe(30); // --count exact
    expect(counts.unique + left).toBe(confirmed); // nothing lost
    expectQuiet(w);
  });

  test('(b) the broker restarts mid-run: it reconnects once the broker is back, loses nothing, stops at exactly --count', async () => {
    const queue = uniqueName('drill-restart');
    const name = `Restart${process.pid}`;
    const w = worker(queue, name, 30, only());
    await w.waitFor(/waiting|listening/);
    const confirmed = await subject.send(queue, tasks('Task ', 40), only());
    await w.waitFor(subject.donePattern, 10);
    await node.ctl(['stop_app']);
    await within(60, w, w.waitFor(/Lost the connection/));
    await node.ctl(['start_app']);
    const back = Date.now();
    await within(60, w, w.waitFor(/Reconnected/));
    const recoverMs = Date.now() - back;
    const exit = await within(60, w, w.exited);
    const left = (await drainQueue(node.amqpUrl, queue)).ids.length;
    const counts = record('broker restart', confirmed, w, left, recoverMs);
    expect(exit.code).toBe(0);
    expect(counts.handled).toBe(30);
    expect(counts.unique + left).toBe(confirmed);
    expectQuiet(w);
  });

  test('(c) its node is killed (SIGKILL): it fails over to the next node of AMQP_URL and carries on to exactly --count', async () => {
    const queue = uniqueName('drill-failover');
    const name = `Failover${process.pid}`;
    const main = brokerUrl();
    const both = { AMQP_URL: `${node.amqpUrl},${main}`, RABBITMQ_MANAGEMENT_URL: node.managementUrl };
    // Classic queues here: on 3.10.8 a one-node quorum queue did not come back after its node was
    // SIGKILLed and restarted (leader not known, basic.get timed out), and this drill counts what the
    // dead node kept. Replicated quorum queues that survive a node's death are lesson 07's subject.
    const classic = ['--queue-type', 'classic'];
    const onPrivate = await subject.send(queue, tasks('Private ', 20), only(), classic);
    mainQueues.push(queue);
    const onMain = await subject.send(queue, tasks('Main ', 30), { AMQP_URL: main }, classic);
    const w = worker(queue, name, 30, both, classic);
    await w.waitFor(subject.donePattern, 8);
    const crash = Date.now();
    await node.kill();
    await within(60, w, w.waitFor(/Reconnected/));
    const recoverMs = Date.now() - crash;
    const exit = await within(60, w, w.exited);
    const leftOnMain = (await drainQueue(main, queue)).ids.length;
    await node.start(); // the dead node's queue is on its disk: count what it kept
    const leftOnPrivate = (await drainQueue(node.amqpUrl, queue)).ids.length;
    const counts = record(
      'node killed, failover',
      onPrivate + onMain,
      w,
      leftOnMain + leftOnPrivate,
      recoverMs,
    );
    const done = subject.doneTasks(w);
    expect(exit.code).toBe(0);
    expect(counts.handled).toBe(30);
    expect(w.lines.filter((line) => line.includes(`Reconnected to ${maskUrl(main)}`))).toHaveLength(1);
    expect(done.filter((t) => t.startsWith('Main')).length + leftOnMain).toBe(onMain);
    // Nothing lost on the dead node; acks it took just before the crash may not have reached its disk
    // (a classic queue writes acks lazily), so those tasks come back: at-least-once, counted here.
    const doneOnPrivate = done.filter((t) => t.startsWith('Private')).length;
    expect(doneOnPrivate + leftOnPrivate).toBeGreaterThanOrEqual(onPrivate);
    expect(leftOnPrivate).toBeLessThanOrEqual(onPrivate);
    process.stderr.write(
      `DRILL ${subject.program} failover: ${doneOnPrivate} done on the killed node, ${leftOnPrivate} of ${onPrivate} still in its queue after the restart (${doneOnPrivate + leftOnPrivate - onPrivate} acked ones came back)\n`,
    );
    expect(counts.duplicates).toBe(0);
    expectQuiet(w);
  });
}

/** new-task-style senders: run the lesson's producer, return how many it says the broker confirmed. */
export async function sendWith(program: string, args: string[], env: NodeJS.ProcessEnv, pattern: RegExp) {
  const exit = await runProgram(program, args, env);
  if (exit.code !== 0) throw new Error(`${program} failed: ${exit.stderr}`);
  return Number(pattern.exec(exit.stderr)?.[1] ?? Number.NaN);
}
