// The offset of a stream's last message, asked over the stream protocol itself (RabbitMQ 3.10 has
// no stream statistics command): a consumer at Offset.last() gets the last chunk, whose highest
// offset is the end. Used only to refuse an --offset beyond it, which RabbitMQ would silently
// turn into "next".
import { type Client, Offset } from 'rabbitmq-stream-js-client';

/** -1n for an empty stream. */
export async function lastOffset(client: Client, stream: string): Promise<bigint> {
  let last = -1n;
  let settle = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  let quiet: NodeJS.Timeout | undefined;
  // An empty stream delivers nothing: a second without a chunk means there is none.
  const empty = setTimeout(settle, 1000);
  const consumer = await client.declareConsumer({ stream, offset: Offset.last() }, (message) => {
    if (message.offset !== undefined && message.offset > last) last = message.offset;
    clearTimeout(empty);
    // The chunk's messages arrive together: once 100 ms pass without one, the chunk is complete.
    clearTimeout(quiet);
    quiet = setTimeout(settle, 100);
  });
  await settled;
  clearTimeout(empty);
  clearTimeout(quiet);
  await consumer.close();
  return last;
}
