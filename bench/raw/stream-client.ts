// Baseline: the least code that appends to a stream over the stream protocol with confirms and a
// window, then reads it back from the first offset, with rabbitmq-stream-js-client alone. It
// reports both rates. The one course import is shared/stream.ts's two patches of the client's
// prototype, so that both sides share them: the handshake fix that lets it talk to RabbitMQ 3.10,
// and Nagle's algorithm off on its sockets. Nothing else of it is used.
import { connect, Offset } from 'rabbitmq-stream-js-client';
import { streamParams } from '../../shared/stream.ts';

const [stream = 'bench-stream', countText = '50000', sizeText = '100', windowText = '2000'] =
  process.argv.slice(2);
const count = Number(countText);
const window = Number(windowText);
const client = await connect({ ...streamParams(), addressResolver: { enabled: true } });
await client.createStream({ stream, arguments: {} });

const publisher = await client.declarePublisher({ stream });
const body = Buffer.alloc(Number(sizeText), 'x');
let confirmed = 0;
let sent = 0;
let wake: (() => void) | undefined;
publisher.on('publish_confirm', (error, ids) => {
  if (error) throw new Error(`RabbitMQ refused ${ids.length} messages (code ${error})`);
  confirmed += ids.length;
  wake?.();
});
let started = performance.now();
while (sent < count) {
  while (sent - confirmed >= window) await new Promise<void>((resolve) => (wake = resolve));
  await publisher.send(body);
  sent++;
}
await publisher.flush();
while (confirmed < count) await new Promise<void>((resolve) => (wake = resolve));
let seconds = (performance.now() - started) / 1000;
process.stderr.write(`stream protocol append: ${count} messages = ${(count / seconds).toFixed(1)} msg/s\n`);

started = performance.now();
let read = 0;
let allRead = () => {};
const done = new Promise<void>((resolve) => (allRead = resolve));
const consumer = await client.declareConsumer({ stream, offset: Offset.first() }, () => {
  if (++read === count) allRead();
});
await done;
seconds = (performance.now() - started) / 1000;
process.stderr.write(`stream protocol read: ${count} messages = ${(count / seconds).toFixed(1)} msg/s\n`);
await consumer.close();
await publisher.close();
await client.deleteStream({ stream });
await client.close();
// The client keeps a timer after close (its heartbeat): end here rather than wait for it.
process.exit(0);
