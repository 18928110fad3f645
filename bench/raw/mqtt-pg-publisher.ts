// Baseline: the least code that does lesson 06's publisher's job with plain pg and mqtt.js — lanes of
// claim (FOR UPDATE SKIP LOCKED) → publish every job at QoS 1 with its id as a user property → wait
// for every PUBACK → COMMIT — until a claim finds nothing due. No reason codes, no reconnects, no
// status line, no error sentences: what the lesson's publisher adds is what the ratio prices.
import mqtt from 'mqtt';
import pg from 'pg';

const [schema = 'public', perReadText = '100', lanesText = '4', name = 'raw'] = process.argv.slice(2);
const perRead = Number(perReadText);

const client = await mqtt.connectAsync(process.env.MQTT_URL ?? 'mqtt://localhost:1883', {
  protocolVersion: 5,
  reconnectPeriod: 0,
});
(client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);

async function lane(): Promise<number> {
  const db = new pg.Client({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@localhost/postgres',
  });
  await db.connect();
  await db.query(`SET search_path = ${schema}`);
  let published = 0;
  for (;;) {
    await db.query('BEGIN');
    const { rows } = await db.query<{ id: string; topic: string; payload: string; fire_ms: number }>(
      `UPDATE jobs SET processed = true, processed_at = now(), published_by = $2
       WHERE id IN (SELECT id FROM jobs WHERE NOT processed AND fire_at <= now()
                    ORDER BY fire_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id, topic, payload, (extract(epoch FROM fire_at) * 1000)::float8 AS fire_ms`,
      [perRead, name],
    );
    await Promise.all(
      rows.map((job) =>
        client.publishAsync(job.topic, job.payload, {
          qos: 1,
          properties: { userProperties: { 'job-id': job.id, 'fire-at': String(job.fire_ms) } },
        }),
      ),
    );
    await db.query('COMMIT');
    published += rows.length;
    if (rows.length === 0) break;
  }
  await db.end();
  return published;
}

const started = performance.now();
const counts = await Promise.all(Array.from({ length: Number(lanesText) }, lane));
const total = counts.reduce((a, b) => a + b, 0);
const seconds = (performance.now() - started) / 1000;
process.stderr.write(`raw publisher: ${total} jobs = ${(total / seconds).toFixed(1)} msg/s\n`);
await client.endAsync();
