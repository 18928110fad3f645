// The cluster tool tells the truth after its runner is killed (issue 22.2): the runner of lesson 07's
// tests (npm run test:cluster) is SIGKILLed, with its whole process group, while a test has a node
// killed; the pid files are then gone too (RabbitMQ 3.10 deletes a live node's pid file when a
// second copy fails to start). `status` must name the nodes that still run, `down` must leave
// nothing listening on the cluster's ports and its epmd, and `up` must form the cluster again. The
// main broker (5672, epmd 4369) and RabbitMQ 4 (5682, epmd 4370) are never touched.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { clusterEpmdPort, clusterNodeNumbers, clusterPorts } from '../shared/course-cluster.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { runningNode } from '../test/scenes/cluster.ts';
import { eventually } from '../test/testing.ts';
import { clusterDir, clusterNode } from './cluster.ts';

const exec = promisify(execFile);

/** npm run cluster -- <args>, as a learner runs it: its exit code, what it said, how long it took. */
async function cluster(...args: string[]) {
  const started = performance.now();
  const result = await exec(process.execPath, ['--import', 'tsx', 'scripts/cluster.ts', ...args], {
    cwd: repoRoot,
    timeout: 400_000,
  }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code?: number; stderr?: string }) => ({ code: error.code ?? 1, stderr: error.stderr ?? '' }),
  );
  return { ...result, seconds: (performance.now() - started) / 1000 };
}

/** The nodes registered with the cluster's epmd, as the epmd program itself lists them. */
async function epmdListed(): Promise<string[]> {
  const { stdout } = await exec('epmd', ['-port', String(clusterEpmdPort), '-names']).catch(() => ({
    stdout: '',
  }));
  return [...stdout.matchAll(/^name (\S+) at port/gm)].map((match) => `${match[1]}@localhost`).sort();
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(!!socket.destroy()));
    socket.once('error', () => resolve(false));
  });

/**
 * What listens on the main broker's and RabbitMQ 4's ports (and their epmds), with its pid: each
 * must still be there, the same process, after the drill (another session may start one meanwhile).
 */
async function protectedListeners(): Promise<string[]> {
  const { stdout } = await exec('ss', [
    '-ltnpH',
    '( sport = :5672 or sport = :4369 or sport = :5682 or sport = :4370 )',
  ]);
  return stdout
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

const clusterPortList = [
  ...clusterNodeNumbers.flatMap((n) => Object.values(clusterPorts(n))),
  clusterEpmdPort,
];

let runner: ChildProcess | undefined;

beforeAll(async () => {
  expect((await cluster('up')).code).toBe(0);
}, 400_000);

afterAll(async () => {
  // A test that failed before its kill leaves the runner going: end its group.
  if (runner?.pid && runner.exitCode === null && runner.signalCode === null)
    process.kill(-runner.pid, 'SIGKILL');
  // The killed run never deleted its queue: delete queues named after a process that is gone.
  const node = clusterNode(runningNode()); // the first that runs (a failed test may leave some down)
  const connection = await (await import('amqplib')).default.connect(node.amqpUrl);
  const channel = await connection.createChannel();
  const queues = await fetch(`${node.managementUrl}/api/queues?columns=name`, {
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
  }).then((response) => response.json() as Promise<{ name: string }[]>);
  for (const { name } of queues) {
    const pid = Number(/^cluster-leader-(\d+)-[0-9a-f]{6}$/.exec(name)?.[1]);
    if (pid && !alive(pid)) await channel.deleteQueue(name).catch(() => {});
  }
  await connection.close();
}, 120_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the runner of lesson 07’s tests SIGKILLed mid-run: status names the nodes that run, down stops them all, up forms the cluster again', async () => {
  const before = await protectedListeners();

  // The runner, in a process group of its own, as a terminal or CI job runs it.
  runner = spawn(
    process.execPath,
    ['scripts/test-cluster.mjs', '07-clusters/failover.cluster.test.ts', '-t', 'its leader killed'],
    { cwd: repoRoot, detached: true, stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => runner!.once('exit', resolve));
  // Mid-run: the test has killed the queue's leader and streams on; kill the runner there.
  const killed = await eventually(
    async () => {
      if (runner!.exitCode !== null)
        throw new Error(`the runner ended (exit ${runner!.exitCode}) before its test killed a node`);
      return clusterNodeNumbers.find((n) => clusterNode(n).pid() === undefined);
    },
    'the test to kill a node',
    240,
  );
  process.kill(-runner.pid!, 'SIGKILL');
  await exited;
  for (const n of clusterNodeNumbers) rmSync(join(clusterDir, `course${n}`, 'pid'), { force: true });

  // status: every node the epmd lists is named running, the killed one stopped.
  // The epmd drops a killed node once it sees its connection close: wait for that (bounded).
  const survivors = await eventually(
    async () => {
      const listed = await epmdListed();
      return listed.length === 2 && listed;
    },
    'the epmd to list the two nodes left',
    10,
  );
  expect(survivors).not.toContain(`course${killed}@localhost`);
  const status = await cluster('status');
  expect(status.code).toBe(0);
  const running = [
    ...status.stderr.matchAll(/^(course\d@localhost) {2}(running|not clustered|not answering)/gm),
  ]
    .map((match) => match[1])
    .sort();
  expect(running).toEqual(survivors);
  expect(status.stderr).toMatch(new RegExp(`^course${killed}@localhost {2}stopped`, 'm'));
  expect(status.stderr).not.toMatch(/The cluster is down/);

  // down: nothing left on the cluster's ports (AMQP, management, Prometheus, distribution, epmd).
  const down = await cluster('down');
  expect(down).toMatchObject({ code: 0 });
  const left = [];
  for (const port of clusterPortList) if (await listening(port)) left.push(port);
  expect(left).toEqual([]);
  expect(clusterNodeNumbers.map((n) => clusterNode(n).pid())).toEqual([undefined, undefined, undefined]);

  // up: the cluster forms again.
  const up = await cluster('up');
  expect(up).toMatchObject({ code: 0 });
  const { running_nodes } = JSON.parse(
    await clusterNode(1).ctl(['cluster_status', '--formatter', 'json']),
  ) as {
    running_nodes: string[];
  };
  expect(running_nodes.sort()).toEqual(clusterNodeNumbers.map((n) => `course${n}@localhost`));

  expect(await protectedListeners()).toEqual(expect.arrayContaining(before));
  expect(before.some((line) => line.includes(':5672 '))).toBe(true);
  process.stderr.write(
    `runner killed with course${killed} down; status said:\n${status.stderr}down (${down.seconds.toFixed(1)} s) left listening: ${left.join(', ') || 'nothing'} of ${clusterPortList.join(', ')}\nup formed the cluster again in ${up.seconds.toFixed(1)} s\n`,
  );
}, 900_000);
