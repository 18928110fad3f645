// Baseline: plain amqplib consuming `count` messages with a prefetch and a multiple ack every `every`.
import amqp from 'amqplib';

const [queue = 'bench', countText = '20000', prefetchText = '1000', everyText = '100'] =
  process.argv.slice(2);
const count = Number(countText);
const every = Number(everyText);
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@localhost:5672');
const channel = await connection.createChannel();
await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
await channel.prefetch(Number(prefetchText));
let received = 0;
let started = 0;
await new Promise<void>((resolve) => {
  void channel.consume(queue, (message) => {
    if (!message) return;
    started ||= performance.now();
    received++;
    if (received % every === 0 || received === count) channel.ack(message, true);
    if (received === count) resolve();
  });
});
const seconds = (performance.now() - started) / 1000;
process.stderr.write(`raw consumer: ${count} messages = ${(count / seconds).toFixed(1)} msg/s\n`);
await connection.close();
