// A node of the RabbitMQ installed on this machine, run beside the main broker on ports of its own:
// its own node name, data, logs, config, enabled plugins, Erlang cookie (through its own HOME) and
// epmd port, so starting, stopping or killing it never touches the learner's broker. The cluster
// (npm run cluster) is three of these; fault drills start one to restart or kill at will.
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { epmdNames, killEpmd } from './epmd.ts';
import { withLock } from './node-lock.ts';

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
  /** Lesson 12's stream protocol on this port (the stream plugin); none unless given. */
  streamPort?: number;
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

  get streamUrl(): string | undefined {
    return this.options.streamPort
      ? `rabbitmq-stream://guest:guest@localhost:${this.options.streamPort}`
      : undefined;
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
    const { amqpPort, managementPort, prometheusPort, streamPort, config = [] } = this.options;
    // The stream plugin advertises the host and port clients should use: this node's, on loopback.
    const stream = streamPort
      ? [
          `stream.listeners.tcp.1 = 127.0.0.1:${streamPort}`,
          'stream.advertised_host = localhost',
          `stream.advertised_port = ${streamPort}`,
        ]
      : [];
    writeFileSync(
      join(this.dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
        `management.tcp.ip = 127.0.0.1`,
        `management.tcp.port = ${managementPort}`,
        `prometheus.tcp.ip = 127.0.0.1`,
        `prometheus.tcp.port = ${prometheusPort}`,
        ...stream,
        ...config,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(this.dir, 'enabled_plugins'),
      `[rabbitmq_management,rabbitmq_prometheus${streamPort ? ',rabbitmq_stream' : ''}].\n`,
    );
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

  /** rabbitmqctl against this node; resolves with its output, rejects when it fails or takes too long. */
  ctl(args: string[], timeoutMs = 120_000): Promise<string> {
    const what = `rabbitmqctl ${args[0]} on ${this.nodeName}`;
    return run(join(this.sbin(), 'rabbitmqctl'), ['-n', this.nodeName, ...args], this.env(), timeoutMs, what);
  }

  /**
   * Whether process `pid` is this node's Erlang VM: a beam started by rabbitmq-server (`-s rabbit
   * boot`) with this node's name in its environment (3.10 names the node there, not on its command
   * line). A pid file alone may name a process that has since died and whose pid was reused.
   */
  isNodeProcess(pid: number): boolean {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!basename(argv[0] ?? '').startsWith('beam')) return false;
      if (!argv.some((arg, i) => arg === '-s' && argv[i + 1] === 'rabbit' && argv[i + 2] === 'boot'))
        return false;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      return environ.includes(`RABBITMQ_NODENAME=${this.nodeName}`);
    } catch {
      return false; // no such process (or no /proc: see pid())
    }
  }

  private pidFromFile(): number | undefined {
    try {
      return Number(readFileSync(this.pidFile, 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The OS process id of the node's Erlang VM, when it runs: the pid file's if that process is the
   * node, else found among the machine's processes (RabbitMQ 3.10 deletes the pid file of a live
   * node when a second copy of it fails to start).
   */
  pid(): number | undefined {
    const fromFile = this.pidFromFile();
    if (!existsSync('/proc/self/cmdline'))
      return fromFile !== undefined && isAlive(fromFile) ? fromFile : undefined;
    if (fromFile !== undefined && this.isNodeProcess(fromFile)) return fromFile;
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (pid && this.isNodeProcess(pid)) return pid;
    }
    return undefined;
  }

  /** Whether the node is registered with its epmd: it runs and answers there (asked, not read from a file). */
  async registered(): Promise<boolean> {
    return (await epmdNames(this.options.epmdPort))?.has(this.options.name) ?? false;
  }

  /** Whether the node runs: registered with its epmd, or its VM found among the processes. */
  async running(): Promise<boolean> {
    return this.pid() !== undefined || (await this.registered());
  }

  /** Resolves true once the node no longer runs (its VM gone, unregistered), false after `timeoutMs`. */
  gone(timeoutMs: number): Promise<boolean> {
    return until(async () => !(await this.running()), timeoutMs);
  }

  /** The four ports a node that is not running needs, with the ones another program holds. */
  async portsTaken(): Promise<{ port: number; what: string }[]> {
    const { amqpPort, managementPort, prometheusPort } = this.options;
    const ports = [
      { port: amqpPort, what: 'AMQP' },
      { port: managementPort, what: 'management' },
      { port: prometheusPort, what: 'Prometheus' },
      { port: this.distPort, what: 'distribution' },
    ];
    const free = await Promise.all(ports.map(({ port }) => portFree(port)));
    return ports.filter((_, i) => !free[i]);
  }

  /**
   * Runs `action` as the only start, stop, kill (or join) of this node, across processes. Not
   * re-entrant: `action` must not call start, stop or kill of the same node.
   */
  exclusive<T>(what: string, action: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    return withLock(join(this.dir, 'lock'), `${what} of ${this.nodeName}`, action);
  }

  /**
   * Starts the node unless it runs (never a second copy) and returns when RabbitMQ and its plugins
   * run. `beforeSpawn` runs only when the node is really started (e.g. to say which port is taken).
   * Resolves true if it started the node, false if the node was running already.
   */
  start({ beforeSpawn }: { beforeSpawn?: () => Promise<void> } = {}): Promise<boolean> {
    return this.exclusive('the start', async () => {
      let pid = this.pid();
      // A node just killed may stay registered for a moment: wait (bounded) for epmd to notice.
      if (pid === undefined && !(await until(async () => !(await this.registered()), 5_000)))
        throw new Error(
          `${this.nodeName} is registered with the epmd on port ${this.options.epmdPort} but no process of it is found: stop that epmd (epmd -port ${this.options.epmdPort} -kill) and start again`,
        );
      const spawned = pid === undefined;
      if (spawned) {
        await beforeSpawn?.();
        this.writeConfig();
        rmSync(this.pidFile, { force: true });
        const what = `rabbitmq-server -detached for ${this.nodeName}`;
        await run(join(this.sbin(), 'rabbitmq-server'), ['-detached'], this.env(), 60_000, what);
      } else {
        // rabbitmqctl wait reads the pid file, which 3.10 may have deleted under the live node.
        if (this.pidFromFile() !== pid) writeFileSync(this.pidFile, `${pid}\n`);
        await this.resumeApp();
      }
      await this.ctl(['wait', this.pidFile, '--timeout', '120'], 130_000);
      pid = this.pid();
      if (pid === undefined)
        throw new Error(`${this.nodeName} stopped while it started: see ${this.dir}/log`);
      return spawned;
    });
  }

  /**
   * A node left with its app stopped (whoever joined it to a cluster was killed between stop_app and
   * start_app) never finishes `rabbitmqctl wait`: start its app.
   */
  private async resumeApp(): Promise<void> {
    const state = await this.ctl(['eval', 'rabbit_boot_state:get().'], 30_000).catch(() => 'unknown');
    if (state.trim() === 'stopped') await this.ctl(['start_app'], 120_000);
  }

  /** A clean stop: the node says goodbye to its clients and its cluster. Rejects if it does not stop. */
  stop(): Promise<void> {
    return this.exclusive('the stop', async () => {
      const pid = this.pid();
      if (pid === undefined && !(await this.registered())) return;
      await this.ctl(['stop'], 60_000);
      // rabbitmqctl returns before the VM has exited and let go of its ports: wait for that too.
      if (pid !== undefined && !(await until(async () => !this.isNodeProcess(pid), 30_000)))
        throw new Error(`${this.nodeName} (pid ${pid}) still runs 30 s after rabbitmqctl stop`);
    });
  }

  /** A crash: SIGKILL of the node's Erlang VM (checked to be that node's), as when its machine dies. */
  kill(): Promise<void> {
    return this.exclusive('the kill', async () => {
      const pid = this.pid();
      if (pid === undefined) return;
      process.kill(pid, 'SIGKILL');
      if (!(await until(async () => !this.isNodeProcess(pid), 10_000)))
        throw new Error(`${this.nodeName} (pid ${pid}) still runs 10 s after SIGKILL`);
    });
  }

  /** Stops the node, its epmd (if no other node uses it) and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => this.kill());
    await stopEpmd(this.options.epmdPort);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Runs a program and resolves with its output; rejects when it exits non-zero or does not finish
 * in time. A rabbitmqctl stopped by a timeout is a failure, though the Erlang VM exits 0 on the
 * SIGTERM that execFile's own timeout sends: it gets SIGKILL here, and the timeout decides.
 */
function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  what: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const child = execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      clearTimeout(timer);
      if (timedOut) return;
      if (error) {
        const said = String(stderr).trim().split('\n').filter(Boolean).slice(-3).join(' ');
        reject(new Error(`${what} failed (exit ${error.code ?? error.signal}): ${said || error.message}`));
      } else resolve(String(stdout));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL'); // the scripts exec the VM: this pid is the VM
      reject(new Error(`${what} did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
  });
}

/** Polls `done` every 50 ms for at most `timeoutMs`; resolves whether it came true. */
async function until(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const started = Date.now(); ; ) {
    if (await done()) return true;
    if (Date.now() - started > timeoutMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
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
  await killEpmd(port).catch(() => false); // refused while a node is registered; no epmd, nothing to do
}
