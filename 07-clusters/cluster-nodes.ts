// The three-node cluster as the drill sees it: the nodes npm run cluster -- up starts
// (course1..3@localhost, AMQP on 5673-5675, the management API on 15673-15675), which of them leads
// a queue and its process (asked of the management API), and node N started again.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clusterNodeNumbers, clusterPorts } from '../shared/course-cluster.ts';
import { CourseError } from '../shared/errors.ts';
import { ManagementClient } from '../shared/management.ts';

const managementUrls = clusterNodeNumbers.map(
  (n) => `http://guest:guest@localhost:${clusterPorts(n).management}`,
);

export interface Leader {
  /** 1, 2 or 3: course1..3@localhost */
  n: number;
  /** The node's name, as RabbitMQ gives it (`course2@localhost`). */
  name: string;
  /** Its Erlang VM's process id. */
  pid: number;
}

/** The node that leads `queue`, and its process: asked of the first node whose management API answers. */
export async function leaderOf(queue: string): Promise<Leader> {
  let lastError: unknown;
  for (const url of managementUrls) {
    const api = new ManagementClient({ url, vhost: '/', timeoutMs: 10_000 });
    let name: string | undefined;
    try {
      name = await api.queueLeader(queue);
    } catch (error) {
      lastError = error; // that node is down, or still booting: ask the next one
      continue;
    }
    const n = Number(/^course(\d)@/.exec(name ?? '')?.[1]);
    const pid = name && n ? await api.nodePid(name) : undefined;
    if (!name || !n || !pid)
      throw new Error(`queue ${queue} has no leader the cluster knows (${name || 'none'})`);
    return { n, name, pid };
  }
  throw lastError ?? new Error('no node of the cluster answers');
}

/** SIGKILL, as when the node's machine dies; resolves once the process is gone. */
export async function killProcess(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(pid, 'SIGKILL');
  while (alive()) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** What `npm run cluster -- start N` does, run as that command: node N starts and rejoins the cluster. */
export async function startNode(n: number): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const args = ['--import', 'tsx', 'scripts/cluster.ts', 'start', String(n)];
  try {
    await promisify(execFile)(process.execPath, args, { cwd: root });
  } catch (error) {
    // The cluster command ends with one sentence that says why: it is the drill's sentence too.
    const said = String((error as { stderr?: string }).stderr ?? '')
      .trim()
      .split('\n')
      .at(-1);
    throw new CourseError(said || `npm run cluster -- start ${n} failed: run it to see why.`, {
      code: 'CLUSTER_START_FAILED',
      cause: error,
    });
  }
}
