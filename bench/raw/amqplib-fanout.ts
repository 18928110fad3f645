// Baseline: the least code that does emit-log's job with plain amqplib — declare the fanout,
// publish `count` lines on a confirm channel, wait for the confirms — for bench/08-publish-subscribe.
import amqp from 'amqplib';

export async function rawFanout(
  url: string,
  exchange: string,
  count: number,
  persistent = false,
): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(exchange, 'fanout', { durable: false });
    for (let n = 1; n <= count; n++) {
      if (!channel.publish(exchange, '', Buffer.from(`bench line #${n}`), { persistent }))
        await new Promise((resolve) => channel.once('drain', resolve));
    }
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}
