// A node of the RabbitMQ installed on this machine, run beside the main broker on ports of its own:
// its own node name, data, logs, config, enabled plugins, Erlang cookie (through its own HOME) and
// epmd port, so starting, stopping or killing it never touches the learner's broker. The cluster
// (npm run cluster) is three of these; fault drills start one to restart or kill at will.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);

export interface NodeOptions {
  /** The short name: the node is `<name>@localhost`. */
  name: string;
  amqpPort: number;
  managementPort: number;
  prometheusPort: number;
  /** Erlang distribution (inter-node and CLI traffic); default amqpPort + 20000, as RabbitMQ does. */
  distPort?: number;
  /** The epmd this node registers with. Nodes of one cluster must share it. */
  epmdPort: number;
  /** Data, logs, config and HOME live here; default a folder named after the node in the temp folder. */
  dir?: string;
  /** Extra rabbitmq.conf lines (e.g. `cluster_partition_handling = pause_minority`). */
  config?: string[];
  /** The Erlang cookie; nodes of one cluster must share it. Default: one RabbitMQ makes up per node. */
  cookie?: string;
}

/** The folder of the real rabbitmq-server script (not Debian's wrapper, which switches user and HOME). */
export function rabbitmqSbin(): string | undefined {
  const debian = '/usr/lib/rabbitmq/lib';
  if (existsSync(debian)) {
    const release = readdirSync(debian)
      .filter((entry) => entry.startsWith('rabbitmq_server-'))
      .sort()
      .pop();
    if (release) return join(debian, release, 'sbin');
  }
  try {
    const found = execFileSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' }).trim();
    return found ? dirname(realpathSync(found)) : undefined;
  } catch {
    return undefined;
  }
}

export class RabbitNode {
  readonly nodeName: string;
  readonly dir: string;
  readonly distPort: number;

  constructor(readonly options: NodeOptions) {
    this.nodeName = `${options.name}@localhost`;
    this.dir = options.dir ?? join(tmpdir(), 'rabbitmq-course-nodes', options.name);
    this.distPort = options.distPort ?? options.amqpPort + 20000;
  }

  get amqpUrl(): string {
    return `amqp://guest:guest@localhost:${this.options.amqpPort}`;
  }

  get managementUrl(): string {
    return `http://localhost:${this.options.managementPort}`;
  }

  private get pidFile(): string {
    return join(this.dir, 'pid');
  }

  /** The environment RabbitMQ's scripts read; the same for the server and for rabbitmqctl. */
  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: join(this.dir, 'home'), // its own .erlang.cookie
      // An empty env file: Debian's /etc/rabbitmq/rabbitmq-env.conf would name the main node.
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'data'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: this.pidFile,
      // Loopback only: the distribution port and epmd are otherwise open to the network.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      RABBITMQ_CTL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      ERL_EPMD_ADDRESS: '127.0.0.1',
      ERL_EPMD_PORT: String(this.options.epmdPort),
    };
  }

  private writeConfig(): void {
    for (const sub of ['home', 'data', 'log']) mkdirSync(join(this.dir, sub), { recursive: true });
    const { amqpPort, managementPort, prometheusPort, config = [] } = this.options;
    writeFileSync(
      join(this.dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
        `management.tcp.ip = 127.0.0.1`,
        `management.tcp.port = ${managementPort}`,
        `prometheus.tcp.ip = 127.0.0.1`,
        `prometheus.tcp.port = ${prometheusPort}`,
        ...config,
        '',
      ].join('\n'),
    );
    writeFileSync(join(this.dir, 'enabled_plugins'), '[rabbitmq_management,rabbitmq_prometheus].\n');
    writeFileSync(join(this.dir, 'rabbitmq-env.conf'), '');
    if (this.options.cookie) {
      // Erlang refuses a cookie file that others can read.
      const cookie = join(this.dir, 'home', '.erlang.cookie');
      rmSync(cookie, { force: true });
      writeFileSync(cookie, this.options.cookie, { mode: 0o400 });
    }
  }

  private sbin(): string {
    const sbin = rabbitmqSbin();
    if (!sbin)
      throw new Error('RabbitMQ is not installed on this machine: run npm run broker, which installs it.');
    return sbin;
  }

  /** rabbitmqctl against this node; resolves with its output. */
  async ctl(args: string[], timeoutMs = 120_000): Promise<string> {
    const { stdout } = await execFile(join(this.sbin(), 'rabbitmqctl'), ['-n', this.nodeName, ...args], {
      env: this.env(),
      timeout: timeoutMs,
    });
    return stdout;
  }

  /** The OS process id of the node's Erlang VM, when it is running. */
  pid(): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (!pid) return undefined;
      process.kill(pid, 0); // throws when no such process
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Starts the node (idempotent) and returns when RabbitMQ and its plugins run. */
  async start(): Promise<void> {
    if (this.pid() === undefined) {
      this.writeConfig();
      rmSync(this.pidFile, { force: true });
      await execFile(join(this.sbin(), 'rabbitmq-server'), ['-detached'], {
        env: this.env(),
        timeout: 60_000,
      });
    }
    await this.ctl(['wait', this.pidFile, '--timeout', '120']);
  }

  /** A clean stop: the node says goodbye to its clients and its cluster. */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    await this.ctl(['stop']);
    // rabbitmqctl returns before the VM has exited and let go of its ports: wait for that too.
    while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** A crash: SIGKILL of the node's Erlang VM, as when its machine dies. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    while (this.pid() !== undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** Stops the node, its epmd (if no other node uses it) and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => this.kill());
    await stopEpmd(this.options.epmdPort);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the epmd on this port when no node is registered with it any more. */
export async function stopEpmd(port: number): Promise<void> {
  const env = { ...process.env, ERL_EPMD_PORT: String(port) };
  try {
    const { stdout } = await execFile('epmd', ['-port', String(port), '-names'], { env, timeout: 10_000 });
    if (/^name /m.test(stdout)) return;
    await execFile('epmd', ['-port', String(port), '-kill'], { env, timeout: 10_000 });
  } catch {
    // No epmd on that port: nothing to stop.
  }
}
