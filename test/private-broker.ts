// A RabbitMQ node of a test's own, for drills that stop, restart or kill a broker: the learner's
// broker is never touched. Each test file takes its own slot, so files running side by side never
// share a node: slot N (0..15) listens on AMQP 5690+N, management 15800+N, Prometheus 15900+N,
// epmd 4380+N and, with `stream`, the stream protocol 5720+N. Taken: 0 lesson 02, 1 lesson 03, 2-3 lesson 04, 4-5 lesson 05, 8 the README test,
// 9 this module's own test, 10 lessons 08-09, 11 lesson 10, 12 lesson 11, 13 lesson 12.
import { afterAll, beforeAll } from '@jest/globals';
import { RabbitNode } from '../scripts/rabbit-node.ts';

export function privateNode(slot: number, config?: string[], { stream = false } = {}): RabbitNode {
  if (!Number.isInteger(slot) || slot < 0 || slot > 15) throw new Error(`slot must be 0..15, not ${slot}`);
  return new RabbitNode({
    name: `coursetest${slot}`,
    amqpPort: 5690 + slot,
    managementPort: 15800 + slot,
    prometheusPort: 15900 + slot,
    epmdPort: 4380 + slot,
    ...(stream ? { streamPort: 5720 + slot } : {}),
    config,
  });
}

/** Starts a private node before the file's tests and destroys it (data and all) after them. */
export function usePrivateBroker(
  slot: number,
  config?: string[],
  options: { stream?: boolean } = {},
): RabbitNode {
  const node = privateNode(slot, config, options);
  // A run killed before its afterAll leaves its node running, with that run's queues and config:
  // start from nothing every time.
  beforeAll(async () => {
    await node.destroy();
    await node.start();
  }, 240_000);
  afterAll(() => node.destroy(), 180_000);
  return node;
}
