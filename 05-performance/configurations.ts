// The configurations run-experiment runs: the reference, then one knob turned at a time. Each is
// the extra flags of the producer and the consumer, a message count and a number of workers.
import { clusterUrl } from '../shared/course-cluster.ts';

export interface Configuration {
  name: string;
  /** What the configuration changes (no message count: the title adds the scaled one). */
  about: string;
  /**
   * The hook for configurations on another broker, such as a quorum queue on a three-node cluster
   * (`() => process.env.CLUSTER_URL`, a node list): the broker this one runs on; when it returns
   * undefined the configuration is skipped with a note. Default: --url, else AMQP_URL.
   */
  url?: () => string | undefined;
  producer: string[];
  consumer: string[];
  /** Messages per producer worker. */
  count: number;
  workers: number;
}

/** The reference's first configuration, then one knob turned at a time. */
export const configurations: Configuration[] = [
  {
    name: 'reference',
    about: '1 producer – 1 consumer, messages of 1000 B, no batching',
    producer: [],
    consumer: [],
    count: 1000,
    workers: 1,
  },
  {
    name: 'batching',
    about: 'batches of 100 on both sides',
    producer: ['--batch', '100'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'four-workers',
    about: '4 worker threads on each side',
    producer: [],
    consumer: ['--batch', '100'],
    count: 2500,
    workers: 4,
  },
  {
    name: 'size-100B',
    about: 'messages of 100 B',
    producer: ['--size', '100'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'size-10KB',
    about: 'messages of 10 KB',
    producer: ['--size', '10240'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'classic',
    about: 'a classic queue',
    producer: ['--queue-type', 'classic'],
    consumer: ['--queue-type', 'classic', '--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'quorum',
    about: 'a quorum queue (replicated log; one node here)',
    producer: ['--queue-type', 'quorum'],
    consumer: ['--queue-type', 'quorum', '--batch', '100'],
    count: 10000,
    workers: 1,
  },
  // Replication's cost (lesson 07): the same quorum queue, one node vs three. Lesson 05's programs
  // declare it with x-queue-type only, so on the cluster it gets a member on every node; a
  // one-member quorum queue there would need x-quorum-initial-group-size, which lesson 05 does not
  // teach. The one-node side is therefore the learner's own broker (AMQP_URL, or --url): the same
  // RabbitMQ on the same machine, one node. Run the two together: run-experiment quorum-1-node quorum-3-nodes
  {
    name: 'quorum-1-node',
    about: 'a quorum queue on one node (your broker)',
    producer: ['--queue-type', 'quorum'],
    consumer: ['--queue-type', 'quorum', '--batch', '100'],
    count: 20000,
    workers: 1,
  },
  {
    name: 'quorum-3-nodes',
    about: 'a quorum queue replicated on three nodes (npm run cluster -- up)',
    // CLUSTER_URL, else the three nodes npm run cluster -- up starts; skipped when none answers.
    url: () => process.env.CLUSTER_URL ?? clusterUrl(),
    producer: ['--queue-type', 'quorum'],
    consumer: ['--queue-type', 'quorum', '--batch', '100'],
    count: 20000,
    workers: 1,
  },
  {
    name: 'confirm-each',
    about: 'publisher confirms: wait for each one',
    producer: ['--max-in-flight', '1'],
    consumer: ['--batch', '100'],
    count: 2000,
    workers: 1,
  },
  {
    name: 'confirm-batches',
    about: 'publisher confirms: batches of 100',
    producer: ['--batch', '100'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
  {
    name: 'confirm-streamed',
    about: 'publisher confirms: streamed, 1000 in flight',
    producer: ['--max-in-flight', '1000'],
    consumer: ['--batch', '100'],
    count: 10000,
    workers: 1,
  },
];
