// npm run services -- rabbitmq4 [--stop]: a RabbitMQ 4.x beside the main broker, never touching it.
// An installed 4.x runs as a private node; else (root on Debian/Ubuntu) Debian sid's package in a
// chroot built once and cached outside the repo; else Docker's rabbitmq:4-management; else what to do.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  aptInstall,
  canApt,
  chalk,
  dockerAnswers,
  dockerUp,
  has,
  managementProblem,
  run,
  ServiceError,
  say,
  tcpOpen,
  waitFor,
} from './common.ts';

/** Where the 4.x broker answers (the lesson tests use these through npm run test:rabbitmq4). */
export const rabbitmq4 = {
  amqpUrl: 'amqp://guest:guest@localhost:5682',
  managementUrl: 'http://localhost:15682',
  streamUrl: 'rabbitmq-stream://guest:guest@localhost:5562',
  ports: { amqp: 5682, management: 15682, prometheus: 15702, stream: 5562, dist: 25682, epmd: 4370 },
  node: 'rabbit43@localhost',
  container: 'course-rabbitmq4',
} as const;
const shown = `amqp://guest:***@localhost:${rabbitmq4.ports.amqp}`;
const guest = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

/** Outside the repo, so a fresh clone on the same machine reuses the chroot and the node's data. */
export function cacheDir(): string {
  if (process.env.RABBITMQ_COURSE_CACHE) return process.env.RABBITMQ_COURSE_CACHE;
  return process.getuid?.() === 0
    ? '/var/cache/rabbitmq-course'
    : join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'rabbitmq-course');
}
const chrootDir = () => join(cacheDir(), 'rabbitmq4-sid');

/** The version the broker on 15682 reports, or why there is none. */
async function answeringVersion(): Promise<string | undefined> {
  if (!(await tcpOpen('127.0.0.1', rabbitmq4.ports.amqp))) return undefined;
  const answer = await managementProblem(rabbitmq4.managementUrl, guest);
  return 'version' in answer ? answer.version : undefined;
}
const is4 = (version: string | undefined) => Number(version?.split('.')[0]) >= 4;

const config = `# Written by npm run services -- rabbitmq4: a node beside the main broker, loopback only.
listeners.tcp.default = 127.0.0.1:${rabbitmq4.ports.amqp}
management.tcp.ip = 127.0.0.1
management.tcp.port = ${rabbitmq4.ports.management}
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = ${rabbitmq4.ports.prometheus}
stream.listeners.tcp.1 = 127.0.0.1:${rabbitmq4.ports.stream}
stream.advertised_host = localhost
stream.advertised_port = ${rabbitmq4.ports.stream}
`;
const plugins = '[rabbitmq_management,rabbitmq_prometheus,rabbitmq_stream].\n';
/** Who the node is, for the server and for rabbitmqctl alike. */
const nodeEnv = {
  RABBITMQ_NODENAME: rabbitmq4.node,
  RABBITMQ_NODE_PORT: String(rabbitmq4.ports.amqp),
  RABBITMQ_DIST_PORT: String(rabbitmq4.ports.dist),
  // Its own epmd: the main broker's epmd (4369) and its node names stay untouched.
  ERL_EPMD_PORT: String(rabbitmq4.ports.epmd),
  // epmd and the distribution port on loopback only, like everything else the script starts.
  ERL_EPMD_ADDRESS: '127.0.0.1',
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
};

export async function ensureRabbitmq4(): Promise<boolean> {
  const version = await answeringVersion();
  if (is4(version)) return announce(version!);
  if (await tcpOpen('127.0.0.1', rabbitmq4.ports.amqp)) {
    throw new ServiceError(
      `Port ${rabbitmq4.ports.amqp} is taken by ${version ? `RabbitMQ ${version}` : 'something that is not a RabbitMQ 4 with its management API on 15682'}: stop it (or npm run services -- rabbitmq4 --stop) and run this again.`,
    );
  }
  say(`RabbitMQ 4 does not answer at ${shown}: starting it.`);
  const installed = installedVersion();
  if (is4(installed)) {
    say(`Starting a private node of the installed RabbitMQ ${installed}.`);
    await startInstalled();
  } else if (process.getuid?.() === 0 && existsSync('/etc/debian_version') && has('chroot')) {
    await buildChroot();
    await startChroot();
  } else if (await dockerAnswers()) {
    say('Starting RabbitMQ 4 in Docker.');
    const { amqp, management, prometheus } = rabbitmq4.ports;
    await dockerUp(
      rabbitmq4.container,
      [
        [amqp, 5672],
        [management, 15672],
        [prometheus, 15692],
      ],
      ['rabbitmq:4-management'],
    );
  } else {
    say(
      chalk.red(
        'RabbitMQ 4 is not running at localhost:5682 and this script cannot start it (no installed 4.x, not root on Debian/Ubuntu for the chroot, no Docker engine): install RabbitMQ 4 (https://www.rabbitmq.com/docs/download) and run it with its AMQP port on 5682 and management on 15682, or run docker run -d -p 127.0.0.1:5682:5672 -p 127.0.0.1:15682:15672 rabbitmq:4-management.',
      ),
    );
    return false;
  }
  if (await waitFor(async () => is4(await answeringVersion()), 180))
    return announce((await answeringVersion())!);
  throw new ServiceError(
    `RabbitMQ 4 was started but did not answer on ${rabbitmq4.ports.amqp} and ${rabbitmq4.ports.management} within 3 minutes: see ${startupLog()}.`,
  );
}

function announce(version: string): true {
  say(chalk.green(`RabbitMQ ${version} is up at ${shown} (management ${rabbitmq4.managementUrl}).`));
  return true;
}

/** The installed RabbitMQ's version (its CLI answers without a running node), if any. */
function installedVersion(): string | undefined {
  if (!has('rabbitmqctl')) return undefined;
  try {
    const out = execFileSync('rabbitmqctl', ['version'], { stdio: 'pipe', timeout: 60_000 }).toString();
    return out.match(/\d+\.\d+\.\d+/)?.[0];
  } catch {
    return undefined;
  }
}

// ---- an installed 4.x: a private node with its own data, logs, config, cookie and ports ----------
const nodeDir = () => join(cacheDir(), 'rabbitmq4-node');
const startupLog = () =>
  existsSync(chrootDir()) && !is4(installedVersion())
    ? join(chrootDir(), 'var/log/rabbitmq/course-startup.log')
    : join(nodeDir(), 'startup.log');

function installedEnv(): NodeJS.ProcessEnv {
  const dir = nodeDir();
  return {
    ...process.env,
    ...nodeEnv,
    HOME: join(dir, 'home'), // its own Erlang cookie
    RABBITMQ_MNESIA_BASE: join(dir, 'data'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    // Not the system's rabbitmq-env.conf, which pins the main node's name and port.
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
  };
}

/** The server's own script, not a distribution's wrapper that switches to the system user. */
const rabbitmqBin = (tool: string) =>
  existsSync(`/usr/lib/rabbitmq/bin/${tool}`) ? `/usr/lib/rabbitmq/bin/${tool}` : tool;

async function startInstalled(): Promise<void> {
  const dir = nodeDir();
  for (const sub of ['home', 'data', 'log']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'rabbitmq.conf'), config);
  writeFileSync(join(dir, 'enabled_plugins'), plugins);
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  const log = openSync(join(dir, 'startup.log'), 'a');
  spawn(rabbitmqBin('rabbitmq-server'), [], {
    env: installedEnv(),
    detached: true,
    stdio: ['ignore', log, log],
  }).unref();
}

// ---- Debian sid's rabbitmq-server in a chroot ----------------------------------------------------
const procMounted = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === join(dir, 'proc'));

/** A uid/gid free on the host and in the chroot, so the broker's files and processes are nobody else's. */
function freeId(dir: string, file: 'passwd' | 'group'): number {
  const used = new Set(
    [readFileSync(`/etc/${file}`, 'utf8'), readFileSync(join(dir, 'etc', file), 'utf8')].flatMap((text) =>
      text.split('\n').map((line) => Number(line.split(':')[2])),
    ),
  );
  let id = 64_100;
  while (used.has(id)) id++;
  return id;
}

async function buildChroot(): Promise<void> {
  const dir = chrootDir();
  if (existsSync(join(dir, 'usr/lib/rabbitmq/bin/rabbitmq-server'))) return;
  say(`Building a Debian sid chroot with rabbitmq-server in ${dir} (once; about a minute and 300 MB).`);
  if (!has('debootstrap') || !existsSync('/usr/share/keyrings/debian-archive-keyring.gpg')) {
    if (!canApt()) throw new ServiceError('debootstrap is missing and apt-get cannot install it here.');
    await aptInstall(['debootstrap', 'debian-archive-keyring']);
  }
  // Built beside its final place and renamed at the end: an interrupted build is never reused.
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(cacheDir(), { recursive: true });
  await run('debootstrap', [
    '--variant=minbase',
    '--include=rabbitmq-server',
    '--keyring=/usr/share/keyrings/debian-archive-keyring.gpg',
    'sid',
    partial,
    process.env.DEBIAN_MIRROR || 'http://deb.debian.org/debian',
  ]);
  await run('chroot', [partial, 'apt-get', 'clean']);
  // Debian gives the chroot's rabbitmq user a low uid that belongs to another service on the host.
  const uid = freeId(partial, 'passwd');
  const gid = freeId(partial, 'group');
  await run('chroot', [partial, 'groupmod', '-g', String(gid), 'rabbitmq']);
  await run('chroot', [partial, 'usermod', '-u', String(uid), '-g', String(gid), 'rabbitmq']);
  await run('chroot', [
    partial,
    'chown',
    '-R',
    'rabbitmq:rabbitmq',
    '/var/lib/rabbitmq',
    '/var/log/rabbitmq',
  ]);
  await run('chroot', [partial, 'chgrp', '-R', 'rabbitmq', '/etc/rabbitmq']);
  renameSync(partial, dir);
}

function chrootUser(dir: string): string {
  const line = readFileSync(join(dir, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('rabbitmq:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid)
    throw new ServiceError(
      `The chroot in ${dir} has no rabbitmq user: delete that folder and run this again.`,
    );
  return `${uid}:${gid}`;
}

/** A command run inside the chroot as its rabbitmq user, with the node's environment and nothing else. */
function inChroot(dir: string, command: string[]): string[] {
  const env = Object.entries({
    ...nodeEnv,
    HOME: '/var/lib/rabbitmq',
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
  }).map(([key, value]) => `${key}=${value}`);
  return [`--userspec=${chrootUser(dir)}`, dir, '/usr/bin/env', '-i', ...env, ...command];
}

async function startChroot(): Promise<void> {
  const dir = chrootDir();
  // The node reads /proc (the Erlang VM's CPU and memory figures): it does not boot without it.
  if (!procMounted(dir)) await run('mount', ['-t', 'proc', 'proc', join(dir, 'proc')]);
  const hosts = join(dir, 'etc/hosts');
  if (!existsSync(hosts) || !/\blocalhost\b/.test(readFileSync(hosts, 'utf8')))
    writeFileSync(hosts, '127.0.0.1 localhost\n::1 localhost\n');
  writeFileSync(join(dir, 'etc/rabbitmq/rabbitmq.conf'), config);
  writeFileSync(join(dir, 'etc/rabbitmq/enabled_plugins'), plugins);
  // For a human running rabbitmqctl inside the chroot: the same node name and ports.
  writeFileSync(
    join(dir, 'etc/rabbitmq/rabbitmq-env.conf'),
    `NODENAME=${rabbitmq4.node}\nNODE_PORT=${rabbitmq4.ports.amqp}\nDIST_PORT=${rabbitmq4.ports.dist}\nexport ERL_EPMD_PORT=${rabbitmq4.ports.epmd}\nexport ERL_EPMD_ADDRESS=127.0.0.1\n`,
  );
  const log = openSync(join(dir, 'var/log/rabbitmq/course-startup.log'), 'a');
  say(chalk.gray(`  $ chroot ${dir} rabbitmq-server (node ${rabbitmq4.node})`));
  spawn('chroot', inChroot(dir, ['/usr/lib/rabbitmq/bin/rabbitmq-server']), {
    detached: true,
    stdio: ['ignore', log, log],
  }).unref();
}

// ---- stop -----------------------------------------------------------------------------------------
/**
 * Ends the node's own epmd once the node has left it (epmd refuses -kill while a node is
 * registered, and shutdown can return a moment before the node deregisters).
 */
async function stopEpmd(epmd: (args: string[]) => Promise<string>): Promise<void> {
  const port = String(rabbitmq4.ports.epmd);
  await waitFor(async () => !/^name /m.test(await epmd(['-port', port, '-names']).catch(() => '')), 15);
  await epmd(['-port', port, '-kill']).catch(() => '');
  await waitFor(async () => !(await tcpOpen('127.0.0.1', rabbitmq4.ports.epmd)), 10);
}

export async function stopRabbitmq4(): Promise<boolean> {
  const dir = chrootDir();
  // shutdown, not stop: it waits for the node's OS process to end.
  const ctl = ['-n', rabbitmq4.node, 'shutdown'];
  if (existsSync(join(dir, 'usr/lib/rabbitmq'))) {
    if (await tcpOpen('127.0.0.1', rabbitmq4.ports.amqp))
      await run('chroot', inChroot(dir, ['/usr/lib/rabbitmq/bin/rabbitmqctl', ...ctl])).catch(() => '');
    await stopEpmd((args) => run('chroot', inChroot(dir, ['/usr/bin/epmd', ...args]), { quiet: true }));
    if (procMounted(dir)) await run('umount', [join(dir, 'proc')]).catch(() => '');
  }
  if (
    (await tcpOpen('127.0.0.1', rabbitmq4.ports.amqp)) &&
    existsSync(nodeDir()) &&
    is4(installedVersion())
  ) {
    const env = installedEnv();
    await run(rabbitmqBin('rabbitmqctl'), ctl, { env }).catch(() => '');
    await stopEpmd((args) => run('epmd', args, { quiet: true, env }));
  }
  if ((await tcpOpen('127.0.0.1', rabbitmq4.ports.amqp)) && (await dockerAnswers()))
    await run('docker', ['stop', rabbitmq4.container]).catch(() => '');
  if (await waitFor(async () => !(await tcpOpen('127.0.0.1', rabbitmq4.ports.amqp)), 30)) {
    say(chalk.green('RabbitMQ 4 is stopped.'));
    return true;
  }
  say(
    chalk.red(
      `Something still answers on port ${rabbitmq4.ports.amqp} that this script did not start: stop it yourself.`,
    ),
  );
  return false;
}
