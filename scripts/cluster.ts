// npm run cluster -- up|down|status|stop N|kill N|start N: a three-node cluster of the installed
// RabbitMQ beside the learner's broker, for lesson 07. Nodes course1@localhost..course3@localhost
// on AMQP 5673-5675, management 15673-15675, Prometheus 15683-15685, distribution 25673-25675,
// one epmd of their own on port 4371 and one Erlang cookie of their own. The main broker (5672,
// its epmd on 4369, its cookie) is never touched.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterEpmdPort, clusterNodeNumbers, clusterPorts, clusterUrl } from '../shared/course-cluster.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import { ManagementClient } from '../shared/management.ts';
import { isEntryPoint } from '../shared/program.ts';
import { epmdNames } from './epmd.ts';
import { RabbitNode, rabbitmqSbin, stopEpmd } from './rabbit-node.ts';

export const clusterDir = process.env.COURSE_CLUSTER_DIR ?? join(tmpdir(), 'rabbitmq-course-cluster');

/** One cookie for the three nodes (they refuse each other otherwise), made once and kept. */
function cookie(): string {
  const file = join(clusterDir, 'cookie');
  if (!existsSync(file)) {
    mkdirSync(clusterDir, { recursive: true });
    writeFileSync(file, randomBytes(16).toString('hex').toUpperCase(), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

export function clusterNode(n: number): RabbitNode {
  const ports = clusterPorts(n);
  return new RabbitNode({
    name: `course${n}`,
    amqpPort: ports.amqp,
    managementPort: ports.management,
    prometheusPort: ports.prometheus,
    distPort: ports.distribution,
    epmdPort: clusterEpmdPort,
    dir: join(clusterDir, `course${n}`),
    cookie: cookie(),
  });
}

export const clusterNodes = (): RabbitNode[] => clusterNodeNumbers.map(clusterNode);

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

function requireRabbitMQ(): void {
  if (!rabbitmqSbin())
    throw new CourseError(
      'RabbitMQ is not installed on this machine: run npm run broker (it installs it), then npm run cluster -- up again.',
      { code: 'NO_RABBITMQ' },
    );
}

/** A node that is not running needs its four ports; say which one another program holds. */
async function checkPorts(node: RabbitNode): Promise<void> {
  const [taken] = await node.portsTaken();
  if (taken)
    throw new CourseError(
      `Port ${taken.port} (${node.nodeName}'s ${taken.what} port) is taken by another program: find it with ss -ltnp 'sport = :${taken.port}' and stop it, then run npm run cluster -- up again.`,
      { code: 'PORT_TAKEN' },
    );
}

interface ClusterStatus {
  disk_nodes?: string[];
  running_nodes?: string[];
}

async function clusterStatus(node: RabbitNode): Promise<ClusterStatus> {
  return JSON.parse(await node.ctl(['cluster_status', '--formatter', 'json'])) as ClusterStatus;
}

/** Joins a node to course1's cluster unless it is a member already. Returns true if it joined. */
function join1(node: RabbitNode, first: RabbitNode): Promise<boolean> {
  if (node === first) return Promise.resolve(false);
  return node.exclusive('the join', async () => {
    if ((await clusterStatus(node)).disk_nodes?.includes(first.nodeName)) return false;
    // On 3.10 a node joins with its app stopped; its (empty) data is replaced by the cluster's.
    await node.ctl(['stop_app'], 60_000);
    await node.ctl(['join_cluster', first.nodeName], 120_000);
    await node.ctl(['start_app'], 120_000);
    return true;
  });
}

/**
 * Starts the nodes that do not run (side by side; one that runs is never started twice), joins
 * them, returns when all three are clustered.
 */
export async function up(say: (line: string) => void = () => {}): Promise<void> {
  requireRabbitMQ();
  const nodes = clusterNodes();
  const [first] = nodes as [RabbitNode];
  // Side by side: a node that was not the last to stop waits for its peers before it boots.
  const started = performance.now();
  const start = (node: RabbitNode) => node.start({ beforeSpawn: () => checkPorts(node) });
  await Promise.all(
    nodes.map(async (node) => {
      const spawned = await start(node).catch(async (error: Error) => {
        // 3.10 may stop a node that boots beside its peers (incompatible_feature_flags: its check
        // asked a peer still booting). Once its VM has gone, once more, its peers now up.
        if (error instanceof CourseError || !(await node.gone(30_000))) throw error;
        say(`${node.nodeName} stopped while it booted (${error.message}): starting it again`);
        return start(node);
      });
      if (spawned) say(`${node.nodeName} runs (AMQP ${node.options.amqpPort}) after ${seconds(started)}`);
    }),
  );
  for (const node of nodes) {
    const joining = performance.now();
    if (await join1(node, first)) say(`${node.nodeName} joined ${first.nodeName} in ${seconds(joining)}`);
  }
  const running = (await clusterStatus(first)).running_nodes ?? [];
  const missing = nodes.filter((node) => !running.includes(node.nodeName));
  if (missing.length)
    throw new CourseError(
      `${missing.map((node) => node.nodeName).join(', ')} did not join the cluster: see its log in ${missing[0]!.dir}/log, then run npm run cluster -- down and up again.`,
      { code: 'NOT_CLUSTERED' },
    );
}

/**
 * Stops every course node that runs (asked of their epmd and the process table, side by side),
 * cleanly or else by SIGKILL, then their epmd. Data stays for the next `up`.
 */
export async function down(say: (line: string) => void = () => {}): Promise<void> {
  const nodes = clusterNodes();
  await Promise.all(
    nodes.map(async (node) => {
      if (!(await node.running())) return;
      await node.stop().catch(async (error: Error) => {
        say(`${node.nodeName} did not stop cleanly (${error.message}): killing it`);
        await node.kill();
      });
      say(`${node.nodeName} stopped`);
    }),
  );
  await stopEpmd(clusterEpmdPort);
  const left = (await epmdNames(clusterEpmdPort).catch(() => new Map())) !== undefined;
  if (left)
    throw new CourseError(
      `The epmd on port ${clusterEpmdPort} still runs after the nodes stopped: see epmd -port ${clusterEpmdPort} -names, stop what it lists, then run npm run cluster -- down again.`,
      { code: 'EPMD_LEFT' },
    );
}

/** Starts one node; it rejoins the cluster it was a member of (or joins course1's, if new). */
export async function startNode(n: number): Promise<void> {
  requireRabbitMQ();
  const node = clusterNode(n);
  await node.start({ beforeSpawn: () => checkPorts(node) });
  await join1(node, clusterNode(1));
}

interface ApiNode {
  name: string;
  running: boolean;
  mem_used?: number;
}
export interface ApiQueue {
  name: string;
  vhost: string;
  type?: string;
  node?: string;
  leader?: string;
  members?: string[];
  online?: string[];
}

/** One GET on a course node's management API, through the course's one client (its timeout, its sentences). */
async function api<T>(node: RabbitNode, path: string): Promise<T> {
  // The course nodes know only guest, whatever AMQP_URL's user is.
  const url = node.managementUrl.replace('://', '://guest:guest@');
  const answer = await new ManagementClient({ url, vhost: '/', timeoutMs: 10_000 }).request(`/${path}`);
  if (answer === undefined) throw new Error(`${path}: HTTP 404`);
  return answer as T;
}

/** A queue as the management API of the first running node sees it (leader, members, online). */
export async function queueDetails(queue: string, vhost = '/'): Promise<ApiQueue & { messages?: number }> {
  let lastError: unknown;
  for (const node of clusterNodes()) {
    if (node.pid() === undefined) continue;
    try {
      return await api(node, `queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError ?? new Error('no node of the cluster is running');
}

/** The number (1, 2 or 3) of the node that leads a quorum queue (or holds a classic one). */
export async function queueLeader(queue: string): Promise<number> {
  const details = await queueDetails(queue);
  const name = details.leader ?? details.node ?? '';
  const n = Number(/^course(\d)@/.exec(name)?.[1]);
  if (!n) throw new Error(`queue ${queue} has no leader the cluster knows (${name || 'none'})`);
  return n;
}

/** Resident memory of a node's Erlang VM, from /proc (Linux). */
export function rssMegabytes(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

export interface NodeStatus {
  node: string;
  /** `not answering`: its VM runs but it is not registered with the epmd (booting, or its epmd gone). */
  state: 'running' | 'stopped' | 'not clustered' | 'not answering';
  pid?: number;
  rssMb?: number;
  leads: string[];
}

/**
 * Each node's state and the queues it leads (a quorum queue's leader, a classic queue's home): a
 * node runs when it is registered with the cluster's epmd or its VM is among the processes, and is
 * clustered when the management API of a running node says so. No pid file is trusted.
 */
export async function status(): Promise<NodeStatus[]> {
  const nodes = clusterNodes();
  const registered = (await epmdNames(clusterEpmdPort)) ?? new Map<string, number>();
  let apiNodes: ApiNode[] = [];
  let queues: ApiQueue[] = [];
  for (const node of nodes) {
    if (!registered.has(node.options.name)) continue;
    try {
      apiNodes = await api<ApiNode[]>(node, 'nodes?columns=name,running,mem_used');
      queues = await api<ApiQueue[]>(node, 'queues?columns=name,vhost,type,node,leader,members,online');
      break;
    } catch {
      // Still booting, or its management plugin not up yet: ask the next one.
    }
  }
  return nodes.map((node) => {
    const pid = node.pid();
    const known = apiNodes.find((entry) => entry.name === node.nodeName);
    const state = !registered.has(node.options.name)
      ? pid === undefined
        ? 'stopped'
        : 'not answering'
      : !apiNodes.length || known?.running
        ? 'running'
        : 'not clustered';
    const leads = queues
      .filter((queue) => (queue.leader ?? queue.node) === node.nodeName)
      .map((queue) => {
        const vhost = queue.vhost === '/' ? '' : `${queue.vhost}/`;
        const members = queue.members
          ? `, ${queue.online?.length ?? '?'}/${queue.members.length} members online`
          : '';
        return `${vhost}${queue.name} (${queue.type ?? 'classic'}${members})`;
      });
    return { node: node.nodeName, state, pid, rssMb: pid ? rssMegabytes(pid) : undefined, leads };
  });
}

function nodeNumber(text: string | undefined): number {
  const n = Number(text);
  if (!clusterNodeNumbers.includes(n as 1 | 2 | 3))
    throw new UsageError(`Name a node 1, 2 or 3 (got '${text ?? ''}'): e.g. npm run cluster -- kill 2.`);
  return n;
}

const usage = `npm run cluster -- <command>
  up        start course1..course3@localhost (AMQP 5673-5675, management 15673-15675) and cluster them
  down      stop the three nodes and their epmd (their data stays for the next up)
  status    each node's state, memory and the queues it leads
  stop N    a clean stop of node N (1, 2 or 3)
  kill N    a crash of node N: SIGKILL of its Erlang VM
  start N   bring node N back; it rejoins the cluster
AMQP_URL for programs that fail over: ${clusterUrl()}`;

async function main(args: string[]): Promise<void> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const [command, arg] = args;
  const started = performance.now();
  switch (command) {
    case 'up':
      await up(say);
      say(`The cluster runs: course1..3@localhost, clustered (${seconds(started)}).`);
      say(`AMQP_URL=${clusterUrl()}`);
      say('Management UI: http://localhost:15673 (guest/guest)');
      break;
    case 'down':
      await down(say);
      say('The cluster is down.');
      break;
    case 'status': {
      const rows = await status();
      for (const row of rows) {
        const n = Number(row.node.slice(6, 7));
        const memory = row.rssMb ? `, ${row.rssMb} MB` : '';
        const pid = row.pid ? `, pid ${row.pid}` : '';
        say(
          `${row.node}  ${row.state}  AMQP ${5672 + n}, management http://localhost:${15672 + n}${pid}${memory}`,
        );
        if (row.state === 'not answering')
          say(
            `  its VM runs but it is not registered with the epmd on ${clusterEpmdPort}: still booting, or npm run cluster -- down stops it`,
          );
        say(`  leads: ${row.leads.length ? row.leads.join('; ') : 'no queue'}`);
      }
      if (rows.every((row) => row.state === 'stopped'))
        say('The cluster is down: npm run cluster -- up starts it.');
      break;
    }
    case 'stop': {
      const node = clusterNode(nodeNumber(arg));
      await node.stop();
      say(`${node.nodeName} stopped cleanly (${seconds(started)}).`);
      break;
    }
    case 'kill': {
      const node = clusterNode(nodeNumber(arg));
      const pid = node.pid(); // checked to be that node's VM, and checked again by kill()
      await node.kill();
      say(pid ? `${node.nodeName} killed (SIGKILL of pid ${pid}).` : `${node.nodeName} was not running.`);
      break;
    }
    case 'start': {
      const n = nodeNumber(arg);
      await startNode(n);
      say(`course${n}@localhost runs and is in the cluster (${seconds(started)}).`);
      break;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${usage}\n`);
      if (command === undefined) process.exitCode = 2;
      break;
    default:
      throw new UsageError(`Unknown command '${command}': use up, down, status, stop N, kill N or start N.`);
  }
}

if (isEntryPoint(import.meta)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    const known = error instanceof CourseError;
    const message = known
      ? error.message
      : `The cluster command failed: ${(error as Error).message.split('\n')[0]} (logs are in ${clusterDir}).`;
    process.stderr.write(`${message}\n`);
    if (process.argv.includes('--debug')) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = known ? error.exitCode : 1;
  });
}
