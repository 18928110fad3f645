// Ceiling: lesson 06's MQTT leg with no database at all — lanes publishing at QoS 1, each job with its
// id as a user property, waiting for every PUBACK of a batch before the next. Whatever a publisher
// that also claims and commits in PostgreSQL reaches, it cannot beat this on the same machine.
import mqtt from 'mqtt';

const [topic = 'job/ceiling', countText = '100000', perReadText = '100', lanesText = '4', firstText = '1'] =
  process.argv.slice(2);
const count = Number(countText);
const perRead = Number(perReadText);
const first = Number(firstText);

const client = await mqtt.connectAsync(process.env.MQTT_URL ?? 'mqtt://localhost:1883', {
  protocolVersion: 5,
  reconnectPeriod: 0,
});
(client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);

let next = 0;
async function lane(): Promise<void> {
  while (next < count) {
    const from = next;
    next = Math.min(count, next + perRead);
    const batch = Array.from({ length: next - from }, (_, i) => String(first + from + i));
    await Promise.all(
      batch.map((id) =>
        client.publishAsync(topic, `{"job":${id}}`, {
          qos: 1,
          properties: { userProperties: { 'job-id': id, 'fire-at': String(Date.now()) } },
        }),
      ),
    );
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(lanesText) }, lane));
const seconds = (performance.now() - started) / 1000;
process.stderr.write(`mqtt-only publisher: ${count} jobs = ${(count / seconds).toFixed(1)} msg/s\n`);
await client.endAsync();
