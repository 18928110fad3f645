// The offsets of a stream's first and last messages, asked over the stream protocol itself
// (RabbitMQ 3.10 has no stream statistics command): a consumer at Offset.last() gets the last
// chunk, whose highest offset is the end; one at Offset.first() gets the first chunk. The end
// refuses an --offset beyond it, which RabbitMQ would silently turn into "next"; the start shows
// what retention removed.
import { type Client, Offset } from 'rabbitmq-stream-js-client';

/** The offsets of the chunk a consumer at `start` gets first; none for an empty stream. */
async function firstChunk(client: Client, stream: string, start: Offset): Promise<bigint[]> {
  const offsets: bigint[] = [];
  let settle = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  let quiet: NodeJS.Timeout | undefined;
  // An empty stream delivers nothing: a second without a chunk means there is none.
  const empty = setTimeout(settle, 1000);
  const consumer = await client.declareConsumer({ stream, offset: start }, (message) => {
    if (message.offset !== undefined) offsets.push(message.offset);
    clearTimeout(empty);
    // The chunk's messages arrive together: once 100 ms pass without one, the chunk is complete.
    clearTimeout(quiet);
    quiet = setTimeout(settle, 100);
  });
  await settled;
  clearTimeout(empty);
  clearTimeout(quiet);
  await consumer.close();
  return offsets;
}

/** -1n for an empty stream. */
export async function lastOffset(client: Client, stream: string): Promise<bigint> {
  return (await firstChunk(client, stream, Offset.last())).at(-1) ?? -1n; // a chunk is in order
}

/** The offset of the first message still in the stream (retention removes from the start); -1n if empty. */
export async function firstOffset(client: Client, stream: string): Promise<bigint> {
  return (await firstChunk(client, stream, Offset.first()))[0] ?? -1n;
}
