// The plain amqplib RPC of the official tutorial (Direct Reply-to), as a baseline for lesson 10's
// bench: `server <queue>` answers fib(n) until killed; `client <queue> <requests> <concurrency> <n>`
// sends them, C at a time, and prints its rate and reply latency as rpc-client --latency does.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';

const [mode, queue = 'rpc_bench', requests = '1000', concurrency = '10', n = '10'] = process.argv.slice(2);
const url = process.env.AMQP_URL?.split(',')[0] ?? 'amqp://guest:guest@localhost:5672';
const connection = await amqp.connect(url, { noDelay: true });
const channel = await connection.createChannel();
await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });

const fib = (k: number) => {
  let [a, b] = [0n, 1n];
  for (let i = 0; i < k; i++) [a, b] = [b, a + b];
  return a;
};

if (mode === 'server') {
  await channel.prefetch(100);
  await channel.consume(queue, (m) => {
    if (!m) return;
    channel.publish('', m.properties.replyTo, Buffer.from(String(fib(Number(m.content)))), {
      correlationId: m.properties.correlationId,
    });
    channel.ack(m);
  });
  process.stderr.write('raw server waiting\n');
} else {
  const total = Number(requests);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let sent = 0;
  let first = 0;
  let last = 0;
  await new Promise<void>((resolve) => {
    const send = () => {
      const id = randomUUID();
      const now = performance.now();
      first ||= now;
      sentAt.set(id, now);
      sent++;
      channel.sendToQueue(queue, Buffer.from(n), { correlationId: id, replyTo: 'amq.rabbitmq.reply-to' });
    };
    void channel
      .consume(
        'amq.rabbitmq.reply-to',
        (m) => {
          const start = m && sentAt.get(m.properties.correlationId);
          if (!m || start === undefined || start === null) return;
          sentAt.delete(m.properties.correlationId);
          last = performance.now();
          latencies.push(last - start);
          if (latencies.length === total) resolve();
          else if (sent < total) send();
        },
        { noAck: true },
      )
      .then(() => {
        for (let i = 0; i < Math.min(Number(concurrency), total); i++) send();
      });
  });
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2);
  process.stderr.write(
    ` [i] ${total} replies at ${(total / ((last - first) / 1000)).toFixed(0)} req/s; reply latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms\n`,
  );
  await connection.close();
}
