// Where lesson 07's three-node cluster (npm run cluster -- up) listens, written once: the script
// that starts the nodes (scripts/cluster.ts) and the lessons that connect to them (lesson 05's
// quorum-3-nodes configuration, lesson 07's examples) read it here.

/** The nodes course1@localhost, course2@localhost, course3@localhost, in failover order. */
export const clusterNodeNumbers = [1, 2, 3] as const;

/** Their own epmd, beside the main broker's (4369). */
export const clusterEpmdPort = 4371;

/** Node n's ports, next to the main broker's: course1 has AMQP 5673, course2 5674, course3 5675. */
export function clusterPorts(n: number) {
  return { amqp: 5672 + n, management: 15672 + n, prometheus: 15682 + n, distribution: 25672 + n };
}

/** Node n's AMQP URL. */
export const clusterNodeUrl = (n: number): string => `amqp://guest:guest@localhost:${clusterPorts(n).amqp}`;

/** AMQP_URL for a program that should fail over across the three nodes, node `first` tried first. */
export const clusterUrl = (first = 1): string =>
  [first, ...clusterNodeNumbers.filter((n) => n !== first)].map(clusterNodeUrl).join(',');
