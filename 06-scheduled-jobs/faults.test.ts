// Faults, each with counts: what the README promises when the MQTT broker, PostgreSQL or the
// publisher itself fails at the worst moment. Made deterministic with a TCP proxy that a test cuts
// or silences, and with --pause-before-commit (the window between PUBACK and COMMIT held open).
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { settings } from '../shared/config.ts';
import { type FaultProxy, faultProxy } from '../test/fault-proxy.ts';
import {
  countJobs,
  enqueueJobs,
  listen,
  pausedPublisher,
  publisher,
  query,
  scene,
  sessionId,
  useScenes,
} from '../test/scenes/06-scheduled-jobs.ts';
import { eventually, expectOneSentence, runProgram, start } from '../test/testing.ts';
import { connectDatabase } from './postgres.ts';

useScenes();
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const mosquittoPort = () => Number(new URL(process.env.MQTT_URL || 'mqtt://localhost:1883').port || 1883);

/**
 * A publisher of 50,000 jobs talking to Mosquitto through the proxy, which refuses new connections
 * and resets the open one as soon as the publisher has published some: the MQTT broker gone.
 */
async function publisherCutOff(name: string, flags: string[]) {
  const { schema, topic } = scene(name);
  await enqueueJobs(schema, 50_000, '--topic', topic);
  proxy = await faultProxy(mosquittoPort());
  const running = start(
    '06-scheduled-jobs/publisher',
    ['--schema', schema, ...flags, '--status-seconds', '0.2'],
    {
      MQTT_URL: proxy.url,
    },
  );
  await running.waitFor(/[1-9]\d* jobs published \(/);
  proxy.refuse();
  proxy.cut();
  return { schema, running };
}

describe('the publisher and its services fail mid-batch: nothing lost, duplicates only from batches in flight', () => {
  test('the MQTT connection reset mid-batch: the batches in flight roll back and are published again after the reconnect', async () => {
    const { schema, topic, filter } = scene('mqttcut');
    await enqueueJobs(schema, 5000, '--topic', topic);
    const subscriber = await listen(filter);
    proxy = await faultProxy(mosquittoPort());
    const running = start(
      '06-scheduled-jobs/publisher',
      [
        '--schema',
        schema,
        '--lanes',
        '2',
        '--jobs-per-read',
        '100',
        '--exit-when-idle',
        '--status-seconds',
        '0.2',
      ],
      { MQTT_URL: proxy.url },
    );
    await running.waitFor(/[1-9]\d* jobs published \(/);
    await proxy.holdAnswers(); // publishes sent, their PUBACKs held back: mid-batch for sure
    proxy.cut();
    const exit = await running.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(
      /rolled back \(they stay due\): The MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+ closed the connection/,
    );
    expect(exit.stderr).toMatch(/reconnected to MQTT; carrying on/);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect(subscriber.unique()).toBe(5000);
    expect(subscriber.duplicates()).toBeLessThanOrEqual(2 * 100); // lanes × jobs per read
    expect(await countJobs(schema)).toBe(0);
  });

  test('PostgreSQL terminates the lane’s backend between PUBACK and COMMIT: exactly that batch is published twice', async () => {
    const { schema, topic, filter } = scene('pgkill');
    await enqueueJobs(schema, 1000, '--topic', topic);
    const subscriber = await listen(filter);
    const running = pausedPublisher(schema, [
      ...['--name', 'T', '--lanes', '1', '--pause-before-commit', '3', '--exit-when-idle'],
    ]);
    await running.waitFor(/\[‖\] 100 jobs published and acknowledged/);
    const db = await connectDatabase();
    const { rows } = await db.query(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'lesson 06 publisher T lane 1' AND query NOT LIKE '%pg_stat_activity%'",
    );
    await db.end();
    expect(rows).toEqual([{ done: true }]);
    running.enter(); // COMMIT now meets a closed connection
    const exit = await running.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(
      /lane 1: batch of 100 jobs rolled back \(they stay due\): PostgreSQL at .* closed the connection|ended this program's connection/,
    );
    expect(exit.stderr).toMatch(/reconnected to PostgreSQL; carrying on/);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect([subscriber.unique(), subscriber.duplicates()]).toEqual([1000, 100]);
    expect(await countJobs(schema)).toBe(0);
  });

  test('the COMMIT reached PostgreSQL but its answer was lost: the batch is counted once, and not published again', async () => {
    const { schema, topic, filter } = scene('commitlost');
    await enqueueJobs(schema, 500, '--topic', topic);
    const subscriber = await listen(filter);
    const database = new URL(settings().databaseUrl);
    proxy = await faultProxy(Number(database.port || 5432), database.hostname);
    database.host = `127.0.0.1:${proxy.port}`;
    const running = pausedPublisher(
      schema,
      ['--name', 'C', '--lanes', '1', '--pause-before-commit', '2', '--exit-when-idle'],
      { DATABASE_URL: database.href },
    );
    await running.waitFor(/\[‖\] 100 jobs published and acknowledged/);
    const sent = proxy.holdAnswers(); // from now on PostgreSQL's answers stop at the proxy
    running.enter();
    await sent; // the COMMIT is on its way
    await eventually(
      async () => ((await countJobs(schema)) === 300 ? true : undefined),
      'the COMMIT applied',
    );
    proxy.cut(); // its answer never arrives
    const exit = await running.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/lane 1: the connection went during the COMMIT of 100 jobs/);
    expect(exit.stderr).toMatch(
      /that COMMIT had reached PostgreSQL: the 100 jobs are processed, and counted/,
    );
    expect(exit.stderr).toMatch(/ C: 500 jobs published in \d+ reads/);
    expect(exit.stderr).not.toMatch(/rolled back/);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect([subscriber.unique(), subscriber.duplicates()]).toEqual([500, 0]);
    expect(await countJobs(schema)).toBe(0);
  });

  test('a publisher SIGKILLed between PUBACK and COMMIT: its batch stays due, and the next publisher sends it again', async () => {
    const { schema, topic, filter } = scene('killwindow');
    await enqueueJobs(schema, 500, '--topic', topic);
    const subscriber = await listen(filter);
    const doomed = pausedPublisher(schema, [
      '--name',
      'Doomed',
      '--lanes',
      '1',
      '--pause-before-commit',
      '2',
    ]);
    await doomed.waitFor(/\[‖\] 100 jobs published and acknowledged/);
    doomed.kill('SIGKILL');
    await doomed.exited;
    // PostgreSQL rolls the dead client's transaction back as soon as it notices the socket closed.
    const db = await connectDatabase();
    await db.query(
      "SELECT pg_sleep(0.05) FROM generate_series(1, 200) WHERE EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'lesson 06 publisher Doomed%')",
    );
    await db.end();
    expect(await countJobs(schema)).toBe(400); // the first batch committed, the second rolled back
    const next = publisher(schema, '--name', 'Next', '--exit-when-idle');
    expect((await next.exited).code).toBe(0);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect([subscriber.unique(), subscriber.duplicates()]).toEqual([500, 100]);
    expect(await countJobs(schema)).toBe(0);
  });
});

describe('a silent MQTT broker: the publisher gives up within the bound it states', () => {
  test('silent from the start (accepts TCP, never answers): no CONNACK within --ack-timeout, nothing claimed', async () => {
    const { schema, topic } = scene('silentstart');
    await enqueueJobs(schema, 50, '--topic', topic);
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    try {
      const exit = await runProgram(
        '06-scheduled-jobs/publisher',
        ['--schema', schema, '--exit-when-idle', '--ack-timeout', '2'],
        {
          MQTT_URL: `mqtt://127.0.0.1:${port}`,
        },
      );
      expect(exit.code).toBe(1);
      expect(exit.stderr).toMatch(/accepted the connection but never answered the MQTT handshake within 2 s/);
      expect(expectOneSentence(exit.stderr)).toEqual([]);
      expect(await countJobs(schema)).toBe(50);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  test('silent mid-run: the batch in flight rolls back after --ack-timeout, and after --reconnect-seconds the publisher stops and says so', async () => {
    const { schema, topic, filter } = scene('silentmid');
    await enqueueJobs(schema, 50_000, '--topic', topic);
    const subscriber = await listen(filter);
    proxy = await faultProxy(mosquittoPort());
    const running = start(
      '06-scheduled-jobs/publisher',
      [
        '--schema',
        schema,
        '--lanes',
        '1',
        '--ack-timeout',
        '2',
        '--reconnect-seconds',
        '3',
        '--status-seconds',
        '0.2',
      ],
      { MQTT_URL: proxy.url },
    );
    await running.waitFor(/[1-9]\d* jobs published \(/);
    proxy.silence();
    const silencedAt = Date.now();
    const exit = await running.exited;
    const seconds = (Date.now() - silencedAt) / 1000;
    expect(exit.code).toBe(1);
    // The bound it states: 2 s for the PUBACKs, 3 s of reconnecting (each attempt ≤ 2 s), plus one retry pause.
    expect(seconds).toBeLessThan(2 + 3 + 2 + 1 + 3); // + 3 s for a busy machine
    expect(exit.stderr).toMatch(
      /batch of 100 jobs rolled back \(they stay due\): The MQTT broker at .* did not acknowledge a batch of 100 publishes within 2 s/,
    );
    expect(exit.stderr.trim().split('\n').at(-1)).toMatch(
      /never answered the MQTT handshake.*\(gave up after 3 s of reconnecting; the batches in flight were rolled back, so their jobs are still due\)\.$/,
    );
    await subscriber.drain(topic);
    await subscriber.stop();
    // Nothing marked processed that the subscriber did not receive.
    const processed = await query(schema, 'SELECT id FROM jobs WHERE processed');
    const received = new Set(subscriber.arrivals.map((arrival) => arrival.id));
    expect(processed.filter((row) => !received.has(String(row.id)))).toEqual([]);
    expect(processed.length).toBeGreaterThan(0);
  });

  test('the MQTT broker gone for good with no reconnect window: the last sentence names the MQTT broker, not PostgreSQL', async () => {
    const { running } = await publisherCutOff('mqttgone', ['--lanes', '2', '--reconnect-seconds', '0']);
    const exit = await running.exited;
    expect(exit.code).toBe(1);
    const last = exit.stderr.trim().split('\n').at(-1) ?? '';
    expect(last).toMatch(
      /^The MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+ closed the connection \((ECONNRESET|Connection closed)\)/,
    );
    expect(exit.stderr).not.toMatch(/PostgreSQL|RabbitMQ|\n\s+at /);
  });

  test('Ctrl+C while it reconnects: a stop (exit 130, the summary), not a give-up; the rolled-back jobs stay due', async () => {
    // Four lanes: some fail a batch, others wait for the reconnect a failed one started (CI saw both).
    const { schema, running } = await publisherCutOff('mqttstop', [
      '--lanes',
      '4',
      '--reconnect-seconds',
      '60',
    ]);
    await running.waitFor(/reconnecting to MQTT/);
    running.kill('SIGINT');
    const exit = await running.exited;
    expect(exit.code).toBe(130);
    expect(exit.stderr).not.toMatch(/gave up|\n\s+at /);
    const published = Number(/(\d+) jobs published in/.exec(exit.stderr)?.[1]);
    expect(await countJobs(schema)).toBe(50_000 - published);
  });
});

describe('the subscriber loses its connection', () => {
  test('with a persistent session it reconnects and receives every job published while it was cut off', async () => {
    const { schema, topic, filter } = scene('subcut');
    const clientId = sessionId('device');
    proxy = await faultProxy(mosquittoPort());
    const device = start(
      '06-scheduled-jobs/subscriber',
      ['--topic', filter, '--client-id', clientId, '--count', '300', '--session-expiry', '120'],
      { MQTT_URL: proxy.url },
    );
    await device.waitFor(/Subscribed to/);
    proxy.refuse();
    proxy.cut();
    await device.waitFor(/Lost the MQTT broker \(ECONNRESET\): reconnecting/);
    await enqueueJobs(schema, 300, '--topic', topic);
    const sent = publisher(schema, '--exit-when-idle');
    const exit = await sent.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).not.toMatch(/no device was subscribed/); // the kept session counts as one
    proxy.forward();
    const received = await device.exited;
    expect(received.code).toBe(0);
    expect(received.stderr).toMatch(/Reconnected; the broker kept our session/);
    expect(received.stderr).toMatch(/ 300 distinct jobs, 0 duplicates/);
  });

  test('with the broker gone for good it stops after --reconnect-seconds with one sentence and exit 1', async () => {
    const { filter } = scene('subgone');
    proxy = await faultProxy(mosquittoPort());
    const device = start('06-scheduled-jobs/subscriber', ['--topic', filter, '--reconnect-seconds', '2'], {
      MQTT_URL: proxy.url,
    });
    await device.waitFor(/Subscribed to/);
    proxy.refuse();
    proxy.cut();
    const exit = await device.exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim().split('\n').at(-1)).toMatch(
      /^Lost the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+ \(ECONNRESET\) and could not reconnect within 2 s: start it/,
    );
    expect(exit.stderr).not.toMatch(/distinct jobs|\n\s+at /);
  });
});
