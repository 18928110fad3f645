// npm run about [-- --json]: the environment the course ran in, for the hand-in and for bug reports.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { mqttBroker } from '../06-scheduled-jobs/mqtt-errors.ts';
import { connectDatabase } from '../06-scheduled-jobs/postgres.ts';
import { postgres } from '../06-scheduled-jobs/postgres-errors.ts';
import { settings } from '../shared/config.ts';
import { managementApi } from '../shared/errors/management.ts';
import { type Explainer, explain } from '../shared/errors.ts';
import { ManagementClient } from '../shared/management.ts';
import { isEntryPoint } from '../shared/program.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { maskSecrets, maskUrl } from '../shared/secrets.ts';

export interface About {
  when: string;
  os: string;
  kernel: string;
  cpu: { model: string; count: number };
  memoryGiB: number;
  node: string;
  npm: string;
  amqplib: string;
  rabbitmq?: { version: string; erlang: string; url: string };
  postgresql?: { version: string; url: string };
  mosquitto?: { version: string; url: string };
  /** Why a service is missing above: one sentence each, masked. */
  unreachable: { rabbitmq?: string; postgresql?: string; mosquitto?: string };
}

export async function about(): Promise<About> {
  const unreachable: About['unreachable'] = {};
  const attempt = async <T>(
    name: keyof About['unreachable'],
    service: Explainer,
    work: () => Promise<T>,
  ): Promise<T | undefined> =>
    work().catch((error) => {
      unreachable[name] = explain(error, { service }).message;
      return undefined;
    });

  const osRelease = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    } catch {
      return undefined;
    }
  })();
  const npm = (() => {
    try {
      return execFileSync('npm', ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const rabbitmq = await attempt('rabbitmq', managementApi, async () => {
    const amqpUrls = settings().amqpUrls;
    const overview = (await new ManagementClient({ timeoutMs: 3000 }).request('/overview')) as {
      rabbitmq_version: string;
      erlang_version: string;
    };
    return {
      version: overview.rabbitmq_version,
      erlang: overview.erlang_version,
      url: maskUrl(amqpUrls[0] ?? ''),
    };
  });
  const postgresql = await attempt('postgresql', postgres, async () => {
    const databaseUrl = settings().databaseUrl;
    const client = await connectDatabase();
    try {
      const { rows } = await client.query('SHOW server_version');
      return { version: String(rows[0].server_version), url: maskUrl(databaseUrl) };
    } finally {
      await client.end();
    }
  });
  const mosquitto = await attempt(
    'mosquitto',
    mqttBroker,
    () =>
      new Promise<{ version: string; url: string }>((resolve, reject) => {
        const mqttUrl = settings().mqttUrl;
        // Mosquitto publishes its version, retained, on a $SYS topic.
        const client = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 3000 });
        const timer = setTimeout(() => {
          client.end(true);
          reject(new Error('no answer within 3 s'));
        }, 3000);
        client.on('error', reject);
        client.on('connect', () => client.subscribe('$SYS/broker/version'));
        client.on('message', (_topic, payload) => {
          clearTimeout(timer);
          client.end(true);
          resolve({ version: payload.toString(), url: maskUrl(mqttUrl) });
        });
      }),
  );
  const cpus = os.cpus();
  return {
    when: new Date().toISOString(),
    os: osRelease ?? `${os.type()} ${os.release()}`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model ?? 'unknown', count: cpus.length },
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    npm,
    amqplib: (
      JSON.parse(readFileSync(join(repoRoot, 'node_modules/amqplib/package.json'), 'utf8')) as {
        version: string;
      }
    ).version,
    ...(rabbitmq ? { rabbitmq } : {}),
    ...(postgresql ? { postgresql } : {}),
    ...(mosquitto ? { mosquitto } : {}),
    unreachable,
  };
}

export function aboutText(a: About): string {
  return [
    `When         ${a.when}`,
    `OS           ${a.os} (${a.kernel})`,
    `CPU          ${a.cpu.model} × ${a.cpu.count}`,
    `Memory       ${a.memoryGiB} GiB`,
    `Node / npm   ${a.node} / ${a.npm}`,
    `amqplib      ${a.amqplib}`,
    `RabbitMQ     ${a.rabbitmq ? `${a.rabbitmq.version} (Erlang ${a.rabbitmq.erlang}) at ${a.rabbitmq.url}` : notReachable(a.unreachable?.rabbitmq)}`,
    `PostgreSQL   ${a.postgresql ? `${a.postgresql.version} at ${a.postgresql.url}` : notReachable(a.unreachable?.postgresql)}`,
    `Mosquitto    ${a.mosquitto ? `${a.mosquitto.version} at ${a.mosquitto.url}` : notReachable(a.unreachable?.mosquitto)}`,
  ].join('\n');
}

function notReachable(why?: string): string {
  return why ? `not reachable: ${why}` : 'not reachable';
}

if (isEntryPoint(import.meta)) {
  const record = await about();
  // Every URL in the record is masked already; masking the whole text again costs nothing.
  process.stdout.write(
    maskSecrets(
      process.argv.includes('--json') ? `${JSON.stringify(record, null, 2)}\n` : `${aboutText(record)}\n`,
    ),
  );
}
