// Baseline: the least code that does the lesson producer's job with plain amqplib — persistent
// messages, a durable queue, streamed confirms with a window — and reports its rate.
import amqp from 'amqplib';

const [queue = 'bench', countText = '20000', sizeText = '1000', windowText = '1000'] = process.argv.slice(2);
const count = Number(countText);
const window = Number(windowText);
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@localhost:5672');
const channel = await connection.createConfirmChannel();
await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
const body = Buffer.alloc(Number(sizeText), 'x');
let inFlight = 0;
let wake: (() => void) | undefined;
const started = performance.now();
for (let i = 1; i <= count; i++) {
  while (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
  inFlight++;
  const ok = channel.sendToQueue(queue, body, { persistent: true, messageId: `raw-${i}` }, () => {
    inFlight--;
    wake?.();
  });
  if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
}
await channel.waitForConfirms();
const seconds = (performance.now() - started) / 1000;
process.stderr.write(`raw producer: ${count} messages = ${(count / seconds).toFixed(1)} msg/s\n`);
await connection.close();
