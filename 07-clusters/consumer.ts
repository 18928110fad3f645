// Consumer: takes messages from the quorum queue and acks each; when its node dies it fails over to
// the next node of AMQP_URL, and counts the ids it sees twice (a failover's at-least-once).

import { connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { clusterNodeUrl } from '../shared/course-cluster.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { nowMs } from '../shared/pacer.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { quorumQueue, replicasFlag } from './producer.ts';

export const program = defineProgram({
  name: 'consumer',
  summary: 'Consume from a quorum queue with acks; fail over across AMQP_URL; count duplicates.',
  flags: {
    queue: { type: 'string', default: 'cluster_queue', env: 'QUEUE', description: 'the quorum queue' },
    prefetch: {
      type: 'integer',
      min: 1,
      default: 500,
      description: 'unacked messages the broker may push to us',
    },
    replicas: replicasFlag,
    count: { type: 'integer', min: 1, description: 'stop after this many messages (default: until Ctrl+C)' },
  },
  examples: [
    `AMQP_URL=${[2, 3, 1].map(clusterNodeUrl).join(',')} npm run lesson:07 -- consumer --count 40000`,
  ],
});

export interface ConsumeResult {
  /** Messages handled (acked), duplicates included: --count counts these. */
  handled: number;
  /** Every different id handled. */
  ids: Set<string>;
  /** Deliveries of an id already handled. */
  duplicates: number;
  reconnects: number;
  seconds: number;
  /** From the producer's first send to our receipt, per first delivery, in ms. */
  latencyMs: number[];
}

export async function consumeMessages(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
): Promise<ConsumeResult> {
  const ids = new Set<string>();
  const latencyMs: number[] = [];
  let duplicates = 0;
  let reconnects = 0;
  const started = nowMs();

  // recover: when our node dies, shared/ reconnects to the next node of AMQP_URL and runs the
  // setup below again on a new channel; the broker redelivers what we had not acked.
  const connection = await connect({ log, recover: true, name: 'lesson 07 consumer' });
  connection.on('connect', () => reconnects++);
  try {
    const { handled } = await keepConsuming(
      connection,
      async (channel) => {
        await channel.assertQueue(options.queue, quorumQueue(options.replicas));
        await channel.prefetch(options.prefetch);
        log.info(` [*] Waiting for messages in ${options.queue}. To exit press CTRL+C`);
        return channel.consume(options.queue, (message) => {
          if (!message) return; // the broker cancelled us (queue deleted)
          const id = message.properties.messageId as string;
          if (ids.has(id)) duplicates++;
          else {
            ids.add(id);
            const sentAt = Number(message.properties.headers?.['sent-at']);
            if (sentAt) latencyMs.push(nowMs() - sentAt);
          }
          // Ack after counting: if we die before this line, the message comes back (a duplicate).
          channel.ack(message);
          if ((ids.size + duplicates) % 10_000 === 0) log.info(` [x] ${ids.size + duplicates} received`);
        });
      },
      { count: options.count, signal, log },
    );
    const seconds = (nowMs() - started) / 1000;
    log.success(
      ` [✓] ${handled} messages received in ${seconds.toFixed(1)} s: ${ids.size} different ids, ${duplicates} duplicate${duplicates === 1 ? '' : 's'}; ${reconnects} reconnect${reconnects === 1 ? '' : 's'}.`,
    );
    return { handled, ids, duplicates, reconnects, seconds, latencyMs };
  } finally {
    await connection.close();
  }
}

runMain(import.meta, program, consumeMessages);
