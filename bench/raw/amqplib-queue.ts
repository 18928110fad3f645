// Baseline: the least code that appends to a queue of the given type (classic, quorum or stream)
// over AMQP 0-9-1 with persistent messages and streamed confirms with a window, then reads them
// all back with a prefetch and manual acks, with plain amqplib. It reports both rates.
import amqp from 'amqplib';

const [type = 'classic', queue = 'bench', countText = '50000', sizeText = '100', windowText = '2000'] =
  process.argv.slice(2);
const count = Number(countText);
const window = Number(windowText);
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@localhost:5672');
const channel = await connection.createConfirmChannel();
await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } });
const body = Buffer.alloc(Number(sizeText), 'x');
let inFlight = 0;
let wake: (() => void) | undefined;
let started = performance.now();
for (let i = 1; i <= count; i++) {
  while (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
  inFlight++;
  const ok = channel.sendToQueue(queue, body, { persistent: true }, () => {
    inFlight--;
    wake?.();
  });
  if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
}
await channel.waitForConfirms();
let seconds = (performance.now() - started) / 1000;
process.stderr.write(`${type} append: ${count} messages = ${(count / seconds).toFixed(1)} msg/s\n`);

const reader = await connection.createChannel();
await reader.prefetch(1000);
started = performance.now();
let read = 0;
await new Promise<void>((resolve) =>
  reader.consume(
    queue,
    (message) => {
      if (!message) return;
      reader.ack(message);
      if (++read === count) resolve();
    },
    // A stream is read from an offset; a queue ignores the argument.
    { arguments: type === 'stream' ? { 'x-stream-offset': 'first' } : {} },
  ),
);
seconds = (performance.now() - started) / 1000;
process.stderr.write(`${type} read: ${count} messages = ${(count / seconds).toFixed(1)} msg/s\n`);
await reader.close();
await channel.deleteQueue(queue);
await connection.close();
