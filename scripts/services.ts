// npm run services [rabbitmq|postgres|mosquitto…]: makes sure the course's servers answer.
// For each: use the one at its URL; else start a locally installed server; else (root on
// Debian/Ubuntu) install Debian's package and start it; else Docker; else say what to do.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { managementAuth, settings } from '../shared/config.ts';
import { isEntryPoint } from '../shared/program.ts';
import { maskSecrets } from '../shared/secrets.ts';
import {
  aptInstall,
  aptInstalled,
  canApt,
  chalk,
  dockerAnswers,
  dockerUp,
  has,
  hostPort,
  isLocalHost,
  managementProblem,
  run,
  ServiceError,
  say,
  shownUrl,
  tcpOpen,
  waitFor,
} from './services/common.ts';
import { ensureRabbitmq4, stopRabbitmq4 } from './services/rabbitmq4.ts';
import { restartBroker } from './services/restart.ts';

interface Service {
  name: string;
  url: string;
  /** Where the service runs: this machine (so the script may start it) or not. */
  local: boolean;
  /** True when the service answers the way the course needs. */
  ready(): Promise<boolean>;
  /** Start a server installed on this machine; false when none is installed. */
  startLocal(): Promise<boolean>;
  aptPackages: string[];
  /** Runs after apt-get installed the package, given what existed before (PostgreSQL's clusters). */
  afterInstall?(before: string[]): Promise<void>;
  /** What exists before an install, for afterInstall. */
  beforeInstall?(): string[];
  docker?: { name: string; ports: [number, number][]; image: string[] };
  manual: string;
}

function rabbitmq(): Service {
  const url = settings().amqpUrls[0];
  if (!url)
    throw new ServiceError(
      'AMQP_URL names no broker: set it to a URL such as amqp://guest:guest@localhost:5672.',
    );
  const { host, port } = hostPort(url, 5672, 'AMQP_URL');
  const management = managementAuth();
  const { host: managementHost, port: managementPort } = hostPort(
    management.base,
    15672,
    'RABBITMQ_MANAGEMENT_URL',
  );
  const amqpUp = () => tcpOpen(host, port);
  // The installed node (5672) may lack a plugin (management on 15672, streams on 5552): enable it
  // there. Never for another broker or port: rabbitmq-plugins talks to the installed node only.
  const installedNode =
    isLocalHost(host) && port === 5672 && isLocalHost(managementHost) && managementPort === 15672;
  const managementVersion = async () =>
    'version' in (await managementProblem(management.base, management.authorization));
  return {
    name: 'RabbitMQ',
    url,
    local: isLocalHost(host),
    async ready() {
      if (!(await amqpUp())) return false;
      const answer = await managementProblem(management.base, management.authorization);
      if ('version' in answer) return streamReady(installedNode);
      if (answer.kind === 'down' && installedNode && has('rabbitmq-plugins')) {
        say('RabbitMQ is up but its management API is not: enabling the management and Prometheus plugins.');
        await run('rabbitmq-plugins', ['enable', 'rabbitmq_management', 'rabbitmq_prometheus']);
        if (await waitFor(managementVersion, 60)) return streamReady(installedNode);
      }
      throw new ServiceError(
        `RabbitMQ answers at ${shownUrl(url)}, but its management API does not serve the course: ${answer.problem}${answer.kind === 'down' ? ' (enable it with rabbitmq-plugins enable rabbitmq_management, or set RABBITMQ_MANAGEMENT_URL)' : ''}.`,
      );
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
    docker: {
      name: 'course-rabbitmq',
      ports: [
        [5672, 5672],
        [15672, 15672],
        [15692, 15692],
        [5552, 5552],
      ],
      image: ['rabbitmq:4-management'],
    },
    manual:
      'install RabbitMQ (https://www.rabbitmq.com/docs/download), start it, enable the management plugin (rabbitmq-plugins enable rabbitmq_management), or set AMQP_URL to a broker you can reach',
  };
}

/** PostgreSQL clusters on this machine, as "version/name". */
/**
 * Lesson 12's stream protocol. The plugin listens on every interface unless told: the installed
 * node is told 127.0.0.1:5552 (and to advertise localhost) before the plugin starts. Not having it
 * stops only lesson 12, so the sentence says what to do and the other services go on.
 */
async function streamReady(installedNode: boolean): Promise<true> {
  const url = settings().streamUrl;
  const { host, port } = hostPort(url, 5552, 'RABBITMQ_STREAM_URL');
  const streamUp = () => tcpOpen(host, port);
  if (await streamUp()) return true;
  if (installedNode && isLocalHost(host) && port === 5552 && has('rabbitmq-plugins')) {
    say("RabbitMQ's stream protocol (lesson 12) is off: enabling the stream plugin on 127.0.0.1:5552.");
    await run('rabbitmqctl', [
      'eval',
      'application:load(rabbitmq_stream), application:set_env(rabbitmq_stream, tcp_listeners, [{"127.0.0.1", 5552}]), application:set_env(rabbitmq_stream, advertised_host, <<"localhost">>).',
    ]);
    await run('rabbitmq-plugins', ['enable', 'rabbitmq_stream']);
    if (await waitFor(streamUp, 60)) return true;
  }
  say(
    chalk.yellow(
      `RabbitMQ's stream protocol does not answer at ${shownUrl(url)}, so lesson 12 cannot run: enable it with rabbitmq-plugins enable rabbitmq_stream (it listens on 5552), or set RABBITMQ_STREAM_URL to where it listens.`,
    ),
  );
  return true;
}

function pgClusters(): string[] {
  if (!existsSync('/etc/postgresql')) return [];
  return readdirSync('/etc/postgresql').flatMap((version) =>
    readdirSync(`/etc/postgresql/${version}`).map((cluster) => `${version}/${cluster}`),
  );
}

function postgres(): Service {
  const url = settings().databaseUrl;
  const { host, port } = hostPort(url, 5432, 'DATABASE_URL');
  return {
    name: 'PostgreSQL',
    url,
    local: isLocalHost(host),
    ready: () => tcpOpen(host, port),
    async startLocal() {
      if (!has('pg_ctlcluster') || pgClusters().length === 0) return false;
      for (const cluster of pgClusters()) {
        const [version, name] = cluster.split('/') as [string, string];
        await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'start']).catch(() => {});
      }
      return waitFor(() => tcpOpen(host, port), 60);
    },
    aptPackages: ['postgresql'],
    beforeInstall: pgClusters,
    async afterInstall(before) {
      // Only the cluster this install created is a sandbox: let DATABASE_URL's default (postgres, no
      // password, over 127.0.0.1) in, and reload it. Clusters that existed before stay as they were.
      for (const cluster of pgClusters().filter((name) => !before.includes(name))) {
        const [version, name] = cluster.split('/') as [string, string];
        const hba = `/etc/postgresql/${version}/${name}/pg_hba.conf`;
        if (!existsSync(hba) || readFileSync(hba, 'utf8').includes('# rabbitmq course')) continue;
        const lines =
          '# rabbitmq course: local trust for the sandbox database\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n';
        writeFileSync(hba, lines + readFileSync(hba, 'utf8'));
        // Running already (the package starts it): reload; not running: startLocal starts it next.
        await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'reload']).catch(() => {});
      }
    },
    docker: {
      name: 'course-postgres',
      ports: [[5432, 5432]],
      image: ['-e', 'POSTGRES_HOST_AUTH_METHOD=trust', 'postgres:16'],
    },
    manual:
      'install PostgreSQL (apt-get install postgresql, or https://www.postgresql.org/download/), start it, or set DATABASE_URL to a database you can reach',
  };
}

function mosquitto(): Service {
  const url = settings().mqttUrl;
  const { host, port } = hostPort(url, 1883, 'MQTT_URL');
  return {
    name: 'Mosquitto',
    url,
    local: isLocalHost(host),
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
    docker: {
      name: 'course-mosquitto',
      ports: [[1883, 1883]],
      image: ['eclipse-mosquitto:2', 'mosquitto', '-c', '/mosquitto-no-auth.conf'],
    },
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
    local: true,
    ready: async () => Boolean(path()),
    startLocal: async () => false,
    aptPackages: ['chromium'],
    manual: 'install Chromium (apt-get install chromium) or set CHROMIUM_PATH to a Chrome or Chromium binary',
  };
}

/** Makes one service answer; returns false (after saying what to do) when it cannot. */
async function ensure(service: Service): Promise<boolean> {
  if (await service.ready()) return true;
  const where = shownUrl(service.url);
  const file = service.url.startsWith('file:');
  if (!service.local) {
    say(
      chalk.red(
        `${service.name} does not answer at ${where}: that is not this machine, so start it there or fix the URL.`,
      ),
    );
    return false;
  }
  if (!file) say(`${service.name} does not answer at ${where}: starting it.`);
  // Each step ends in a check of the service itself: an install that starts the server (Debian's
  // packages do), or that is all there is to it (Chromium), is done right there.
  const upAfter = async (step: () => Promise<boolean>) => (await step()) && (await service.ready());
  if (await upAfter(() => service.startLocal())) return announce(service);
  // Installed already but not answering: reinstalling would not help; Docker or the manual might.
  if (canApt() && !aptInstalled(service.aptPackages)) {
    say(`${service.name} is not installed: installing Debian's ${service.aptPackages.join(' ')} package.`);
    const before = service.beforeInstall?.() ?? [];
    await aptInstall(service.aptPackages);
    await service.afterInstall?.(before);
    if ((await service.ready()) || (await upAfter(() => service.startLocal()))) return announce(service);
  }
  if (service.docker && (await dockerAnswers())) {
    say(`Starting ${service.name} in Docker.`);
    await dockerUp(service.docker.name, service.docker.ports, service.docker.image);
    // A container opens its ports one by one while it boots: wait, and only then let the last
    // check say what is still wrong.
    if (await waitFor(() => service.ready().catch(() => false), 90)) return announce(service);
    if (await service.ready()) return announce(service);
  }
  say(
    chalk.red(
      `${service.name} is not ${file ? 'installed' : `running at ${where}`} and this script could not ${file ? 'install' : 'start'} it: ${service.manual}.`,
    ),
  );
  return false;
}

function announce(service: Service): true {
  const file = service.url.startsWith('file:');
  say(
    chalk.green(
      file ? `${service.name} is installed.` : `${service.name} is up at ${shownUrl(service.url)}.`,
    ),
  );
  return true;
}

const all: Record<string, () => Service> = { rabbitmq, postgres, mosquitto, chromium };
/** Not part of the default set: a second broker, RabbitMQ 4, beside the main one. */
const extra = ['rabbitmq4'];

/** Exit code: 0 all up, 1 a service could not be made to answer, 2 a bad argument. */
export async function services(argv: string[]): Promise<number> {
  const stop = argv.includes('--stop');
  // npm run broker -- restart (npm run broker is `services rabbitmq`).
  const restart = argv.includes('restart');
  const names = argv.filter((arg) => arg !== '--stop' && arg !== 'restart');
  const known = [...Object.keys(all), ...extra];
  const unknown = names.find((name) => !known.includes(name));
  if (unknown !== undefined) {
    say(`Unknown service '${unknown}': choose from ${known.join(', ')} (and --stop with rabbitmq4).`);
    return 2;
  }
  if (stop && (names.length !== 1 || names[0] !== 'rabbitmq4')) {
    say('--stop stops only the RabbitMQ 4 this script started: npm run services -- rabbitmq4 --stop.');
    return 2;
  }
  if (restart && (names.length !== 1 || names[0] !== 'rabbitmq' || stop)) {
    say("restart restarts only the learner's RabbitMQ: npm run broker -- restart.");
    return 2;
  }
  try {
    if (restart) return await restartBroker();
    if (stop) return (await stopRabbitmq4()) ? 0 : 1;
    const wanted = names.length ? names : Object.keys(all);
    let ok = true;
    // One at a time: an apt-get install must not race another.
    for (const name of wanted)
      ok = (name === 'rabbitmq4' ? await ensureRabbitmq4() : await ensure(all[name]!())) && ok;
    if (ok) say(chalk.green(`${wanted.join(', ')}: up.`));
    return ok ? 0 : 1;
  } catch (error) {
    // One sentence, never a stack: our own sentences as they are, anything else masked and cut to a line.
    const message =
      error instanceof ServiceError ? error.message : maskSecrets(String((error as Error).message ?? error));
    say(
      chalk.red(
        error instanceof ServiceError ? message : `The services check failed: ${message.split('\n')[0]}`,
      ),
    );
    return 1;
  }
}

if (isEntryPoint(import.meta)) {
  process.exitCode = await services(process.argv.slice(2));
}
