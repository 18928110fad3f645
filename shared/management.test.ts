// What lesson 07's drill asks the management API: which node leads a queue, and that node's
// process (the drill kills it).
import { expect, test } from '@jest/globals';
import { uniqueName, useTestConnection } from '../test/testing.ts';
import { ManagementClient } from './management.ts';

const rabbit = useTestConnection();

test("queueLeader names the node that leads a quorum queue and a classic queue's home; nodePid is that node's process id", async () => {
  const quorum = rabbit.own(uniqueName('leader-quorum'));
  const classic = rabbit.own(uniqueName('leader-classic'));
  await rabbit.channel.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await rabbit.channel.assertQueue(classic, { durable: false });
  const api = new ManagementClient({ timeoutMs: 10_000 });
  const { node } = (await api.request('/overview')) as { node: string };

  expect(await api.queueLeader(quorum)).toBe(node);
  expect(await api.queueLeader(classic)).toBe(node);
  expect(await api.queueLeader(uniqueName('no-such-queue'))).toBeUndefined();

  const pid = await api.nodePid(node);
  expect(Number.isInteger(pid) && pid! > 0).toBe(true);
});
