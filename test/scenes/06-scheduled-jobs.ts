// What lesson 06's test files share: a schema and topic per test (dropped after), jobs enqueued,
// an in-process subscriber that records every arrival, and an end marker to wait on instead of a
// sleep (Mosquitto delivers one publisher's messages on a topic in order).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach } from '@jest/globals';
import mqtt from 'mqtt';
import { enqueue, program as enqueueProgram } from '../../06-scheduled-jobs/enqueue.ts';
import { connectDatabase } from '../../06-scheduled-jobs/postgres.ts';
import { type Arrival, subscribe, program as subscriberProgram } from '../../06-scheduled-jobs/subscriber.ts';
import { settings } from '../../shared/config.ts';
import { parseOptions } from '../../shared/flags.ts';
import { repoRoot } from '../../shared/repo-root.ts';
import { captureLog, Running, start, stopAll, uniqueName } from '../testing.ts';

const schemas: string[] = [];
const sessions: string[] = [];
const withStdin = new Set<Running>();

/** Call once per test file: kills what a test left running, drops its schemas and MQTT sessions. */
const listeners = new Set<Listener>();

export function useScenes(): void {
  afterEach(async () => {
    for (const running of withStdin) running.kill('SIGKILL');
    await Promise.all([...withStdin].map((running) => running.exited));
    withStdin.clear();
    // A test that failed before stopping its subscriber: an open MQTT client keeps Jest from exiting.
    await Promise.all([...listeners].map((listener) => listener.stop().catch(() => {})));
    listeners.clear();
    await stopAll();
  });
  afterAll(async () => {
    const db = await connectDatabase();
    for (const schema of schemas) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.end();
    for (const clientId of sessions) await forgetSession(clientId);
  });
}

/** A schema and a topic that only this test uses. */
export function scene(name: string) {
  const schema = uniqueName(name).replace(/-/g, '_');
  schemas.push(schema);
  return { schema, topic: `job/${schema}/t`, filter: `job/${schema}/#` };
}

/** A client id for a persistent session, removed from the broker after the file's tests. */
export function sessionId(name: string): string {
  const id = uniqueName(name);
  sessions.push(id);
  return id;
}

async function forgetSession(clientId: string): Promise<void> {
  // Connecting with a clean start ends the stored session; disconnecting leaves none behind.
  const client = await mqtt.connectAsync(settings().mqttUrl, { protocolVersion: 5, clientId, clean: true });
  await client.endAsync();
}

export async function enqueueJobs(schema: string, count: number, ...flags: string[]): Promise<void> {
  await enqueue(parseOptions(enqueueProgram, ['--schema', schema, '--count', String(count), ...flags]), {
    log: captureLog().log,
  });
}

/** Rows of the test's jobs table matching `where`. */
export async function countJobs(schema: string, where = 'NOT processed'): Promise<number> {
  const db = await connectDatabase({ schema });
  try {
    return Number((await db.query(`SELECT count(*) FROM jobs WHERE ${where}`)).rows[0].count);
  } finally {
    await db.end();
  }
}

export async function query(schema: string, sql: string, values: unknown[] = []) {
  const db = await connectDatabase({ schema });
  try {
    return (await db.query(sql, values)).rows;
  } finally {
    await db.end();
  }
}

export interface Listener {
  arrivals: Arrival[];
  /** Distinct job ids received (the end marker not counted). */
  unique(): number;
  duplicates(): number;
  /** Publishes the end marker on `topic` and resolves when it arrives: everything before it has. */
  drain(topic: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An in-process subscriber (the lesson's own subscribe()) that records every arrival. At full speed
 * it subscribes with QoS 0: at QoS 1 Mosquitto's defaults drop messages for one that falls behind.
 */
export async function listen(filter: string, qos = '0'): Promise<Listener> {
  const controller = new AbortController();
  const arrivals: Arrival[] = [];
  const waiting = new Map<string, () => void>();
  let ready: () => void = () => {};
  const subscribed = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const { log } = captureLog();
  const wrapped = {
    ...log,
    info: (message: string) => {
      log.info(message);
      if (message.includes('Subscribed')) ready();
    },
  };
  const summary = subscribe(
    parseOptions(subscriberProgram, ['--topic', filter, '--qos', qos]),
    { log: wrapped, signal: controller.signal },
    (arrival) => {
      arrivals.push(arrival);
      waiting.get(arrival.id)?.();
    },
  );
  await subscribed;
  const jobs = () => arrivals.filter((arrival) => !arrival.id.startsWith('end-'));
  const listener: Listener = {
    arrivals,
    unique: () => new Set(jobs().map((arrival) => arrival.id)).size,
    duplicates: () => jobs().length - new Set(jobs().map((arrival) => arrival.id)).size,
    async drain(topic: string) {
      const id = `end-${Math.random().toString(36).slice(2)}`;
      const arrived = new Promise<void>((resolve) => waiting.set(id, resolve));
      const client = await mqtt.connectAsync(settings().mqttUrl, { protocolVersion: 5 });
      await client.publishAsync(topic, 'end', { qos: 1, properties: { userProperties: { 'job-id': id } } });
      await client.endAsync();
      await arrived;
    },
    async stop() {
      controller.abort();
      await summary;
    },
  };
  listeners.add(listener);
  return listener;
}

export const publisher = (schema: string, ...flags: string[]): Running =>
  start('06-scheduled-jobs/publisher', ['--schema', schema, '--status-seconds', '0.5', ...flags]);

/** A publisher whose stdin the test holds, for --pause-before-commit. */
export function pausedPublisher(
  schema: string,
  flags: string[],
  env: NodeJS.ProcessEnv = {},
): Running & { enter(): void } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, '06-scheduled-jobs/publisher.ts'),
      '--schema',
      schema,
      '--status-seconds',
      '0.5',
      ...flags,
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const running = new Running(child) as Running & { enter(): void };
  running.enter = () => child.stdin?.write('\n');
  withStdin.add(running);
  return running;
}
