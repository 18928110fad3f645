// npm run services [rabbitmq|postgres|mosquitto…]: makes sure the course's servers answer.
// For each: use the one at its URL; else start a locally installed server; else (root on
// Debian/Ubuntu) install Debian's package and start it; else Docker; else say what to do.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chalkStderr as chalk } from 'chalk';
import { isEntryPoint } from '../shared/cli.ts';
import { managementAuth, maskUrl, settings } from '../shared/config.ts';

const execFile = promisify(execFileCb);
const say = (text: string) => process.stderr.write(`${text}\n`);

interface Service {
  name: string;
  url: string;
  /** True when the service answers the way the course needs. */
  ready(): Promise<boolean>;
  /** Start a server installed on this machine; false when none is installed. */
  startLocal(): Promise<boolean>;
  aptPackages: string[];
  afterInstall?(): Promise<void>;
  docker: string[];
  manual: string;
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: Number(parsed.port) || defaultPort,
  };
}

function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const isLocal = (url: string) => ['localhost', '127.0.0.1', '::1', '[::1]'].includes(new URL(url).hostname);
const has = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
async function run(command: string, args: string[]): Promise<void> {
  say(chalk.gray(`  $ ${command} ${args.join(' ')}`));
  await execFile(command, args, { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
}
async function waitFor(check: () => Promise<boolean>, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

async function managementAnswers(): Promise<boolean> {
  const { base, authorization } = managementAuth();
  try {
    const response = await fetch(`${base}/api/overview`, {
      headers: { authorization },
      signal: AbortSignal.timeout(2000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

function rabbitmq(): Service {
  const url = settings().amqpUrls[0]!;
  const { host, port } = hostPort(url, 5672);
  const amqpUp = () => tcpOpen(host, port);
  return {
    name: 'RabbitMQ',
    url,
    async ready() {
      if (!(await amqpUp())) return false;
      if (await managementAnswers()) return true;
      // AMQP answers but the management API does not: enable the plugins on a local broker.
      if (isLocal(url) && has('rabbitmq-plugins')) {
        say('RabbitMQ is up but its management API is not: enabling the management and Prometheus plugins.');
        await run('rabbitmq-plugins', ['enable', 'rabbitmq_management', 'rabbitmq_prometheus']);
        return waitFor(managementAnswers, 60);
      }
      say(
        `RabbitMQ answers at ${maskUrl(url)}, but its management API at ${managementAuth().base} does not: enable the plugin (rabbitmq-plugins enable rabbitmq_management) or set RABBITMQ_MANAGEMENT_URL.`,
      );
      return false;
    },
    async startLocal() {
      if (!has('rabbitmq-server')) return false;
      await run('rabbitmq-plugins', [
        'enable',
        '--offline',
        'rabbitmq_management',
        'rabbitmq_prometheus',
      ]).catch(() => {});
      await run('rabbitmq-server', ['-detached']);
      return waitFor(amqpUp, 90);
    },
    aptPackages: ['rabbitmq-server'],
    docker: [
      'run',
      '-d',
      '--name',
      'course-rabbitmq',
      '-p',
      '5672:5672',
      '-p',
      '15672:15672',
      '-p',
      '15692:15692',
      'rabbitmq:3-management',
    ],
    manual:
      'install RabbitMQ (https://www.rabbitmq.com/docs/download), start it, enable the management plugin (rabbitmq-plugins enable rabbitmq_management), or set AMQP_URL to a broker you can reach',
  };
}

function postgres(): Service {
  const url = settings().databaseUrl;
  const { host, port } = hostPort(url, 5432);
  const clusters = () => (existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : []);
  return {
    name: 'PostgreSQL',
    url,
    ready: () => tcpOpen(host, port),
    async startLocal() {
      if (!has('pg_ctlcluster') || clusters().length === 0) return false;
      for (const version of clusters()) {
        for (const cluster of readdirSync(`/etc/postgresql/${version}`)) {
          await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, cluster, 'start']).catch(
            () => {},
          );
        }
      }
      return waitFor(() => tcpOpen(host, port), 60);
    },
    aptPackages: ['postgresql'],
    async afterInstall() {
      // A database this script just installed is a local sandbox: let DATABASE_URL's default
      // (postgres, no password, over 127.0.0.1) in, as the course's machines are set up.
      for (const version of clusters()) {
        const hba = `/etc/postgresql/${version}/main/pg_hba.conf`;
        if (existsSync(hba) && !readFileSync(hba, 'utf8').includes('# rabbitmq course')) {
          const lines =
            '# rabbitmq course: local trust for the sandbox database\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n';
          writeFileSync(hba, lines + readFileSync(hba, 'utf8'));
        }
      }
    },
    docker: [
      'run',
      '-d',
      '--name',
      'course-postgres',
      '-p',
      '5432:5432',
      '-e',
      'POSTGRES_HOST_AUTH_METHOD=trust',
      'postgres:16',
    ],
    manual:
      'install PostgreSQL (apt-get install postgresql, or https://www.postgresql.org/download/), start it, or set DATABASE_URL to a database you can reach',
  };
}

function mosquitto(): Service {
  const url = settings().mqttUrl;
  const { host, port } = hostPort(url, 1883);
  return {
    name: 'Mosquitto',
    url,
    ready: () => tcpOpen(host, port),
    async startLocal() {
      if (!has('mosquitto')) return false;
      // The course's config (scripts/mosquitto.conf: loopback, anonymous, TCP_NODELAY) on MQTT_URL's port.
      const template = readFileSync(fileURLToPath(new URL('./mosquitto.conf', import.meta.url)), 'utf8');
      const config = join(tmpdir(), `rabbitmq-course-mosquitto-${port}.conf`);
      writeFileSync(config, template.replace(/^listener 1883 /m, `listener ${port} `));
      await run('mosquitto', ['-d', '-c', config]);
      return waitFor(() => tcpOpen(host, port), 30);
    },
    aptPackages: ['mosquitto'],
    docker: [
      'run',
      '-d',
      '--name',
      'course-mosquitto',
      '-p',
      '1883:1883',
      'eclipse-mosquitto:2',
      'mosquitto',
      '-c',
      '/mosquitto-no-auth.conf',
    ],
    manual:
      'install Mosquitto (apt-get install mosquitto, or https://mosquitto.org/download/), start it, or set MQTT_URL to an MQTT broker you can reach',
  };
}

function chromium(): Service {
  const path = () =>
    [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
      (p) => p && existsSync(p),
    );
  return {
    name: 'Chromium',
    // Not a server: the headless browser the lesson 05 report test and the screenshots use.
    url: 'file:///usr/bin/chromium',
    ready: async () => Boolean(path()),
    startLocal: async () => false,
    aptPackages: ['chromium'],
    docker: [],
    manual: 'install Chromium (apt-get install chromium) or set CHROMIUM_PATH to a Chrome or Chromium binary',
  };
}

const canApt = () => process.getuid?.() === 0 && existsSync('/etc/debian_version') && has('apt-get');
let aptUpdated = false;
async function dockerAnswers(): Promise<boolean> {
  if (!has('docker')) return false;
  return execFile('docker', ['info'], { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
}

/** Makes one service answer; returns false (after saying what to do) when it cannot. */
async function ensure(service: Service): Promise<boolean> {
  if (await service.ready()) return true;
  const where = maskUrl(service.url);
  if (!service.url.startsWith('file:') && !isLocal(service.url)) {
    say(
      chalk.red(
        `${service.name} does not answer at ${where}: that is not this machine, so start it there or fix the URL.`,
      ),
    );
    return false;
  }
  say(
    service.url.startsWith('file:')
      ? `${service.name} is not installed.`
      : `${service.name} does not answer at ${where}: starting it.`,
  );
  try {
    if ((await service.startLocal()) && (await service.ready())) return announce(service);
    if (canApt()) {
      say(`${service.name} is not installed: installing Debian's ${service.aptPackages.join(' ')} package.`);
      if (!aptUpdated) await run('apt-get', ['update', '-q']);
      aptUpdated = true;
      await run('env', [
        'DEBIAN_FRONTEND=noninteractive',
        'apt-get',
        'install',
        '-y',
        '-q',
        ...service.aptPackages,
      ]);
      await service.afterInstall?.();
      if ((await service.startLocal()) && (await service.ready())) return announce(service);
    }
    if (service.docker.length && (await dockerAnswers())) {
      say(`Starting ${service.name} in Docker.`);
      await run('docker', service.docker);
      if (await waitFor(() => service.ready(), 90)) return announce(service);
    }
  } catch (error) {
    say(chalk.red(`Starting ${service.name} failed: ${(error as Error).message.split('\n')[0]}`));
  }
  say(
    chalk.red(
      `${service.name} is not running at ${where} and this script could not start it: ${service.manual}.`,
    ),
  );
  return false;
}

function announce(service: Service): true {
  say(chalk.green(`${service.name} is up at ${maskUrl(service.url)}.`));
  return true;
}

const all: Record<string, () => Service> = { rabbitmq, postgres, mosquitto, chromium };

export async function services(names: string[]): Promise<boolean> {
  const wanted = names.length ? names : Object.keys(all);
  const unknown = wanted.filter((name) => !all[name]);
  if (unknown.length) {
    say(`Unknown service '${unknown[0]}': choose from ${Object.keys(all).join(', ')}.`);
    return false;
  }
  let ok = true;
  // One at a time: an apt-get install must not race another.
  for (const name of wanted) ok = (await ensure(all[name]!())) && ok;
  if (ok) say(chalk.green(`${wanted.map((name) => all[name]!().name).join(', ')}: up.`));
  return ok;
}

if (isEntryPoint(import.meta)) {
  process.exitCode = (await services(process.argv.slice(2))) ? 0 : 1;
}
