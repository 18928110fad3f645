// Lesson 10's fault drills on a private RabbitMQ node (slot 11): three servers share 1,000 requests
// sent 50 at a time while one server is SIGKILLed, the client's connection is closed by the broker,
// or a server's is. Each drill counts the client's reply lines: every request answered exactly once.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { usePrivateBroker } from '../test/private-broker.ts';
import {
  closeConnection,
  connectionNamed,
  type Running,
  start,
  stopAll,
  uniqueName,
  waitForTotal,
  within,
} from '../test/testing.ts';

const node = usePrivateBroker(11, ['collect_statistics_interval = 500']);
const env = () => ({ AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl });
const REQUESTS = 1000;
const numbers = Array.from({ length: REQUESTS }, (_, i) => String(i));

// 150 ms of work per request, 5 at a time per server: three servers answer about 100 a second, so a
// run lasts about 10 s, long enough for the fault to land in its middle and for the server whose
// connection was closed to come back to requests still waiting. (At 50 ms a CI run on a busy
// machine ended before the management API listed the client's connection.)
const server = (queue: string, name: string) =>
  start(
    '10-rpc/rpc-server',
    ['--queue', queue, '--name', name, '--prefetch', '5', '--delay-ms', '150'],
    env(),
  );
const client = (queue: string) =>
  start(
    '10-rpc/rpc-client',
    ['--queue', queue, '--concurrency', '50', '--timeout-seconds', '60', ...numbers],
    env(),
  );

const table: string[] = [];
afterEach(stopAll);
afterAll(() => {
  process.stderr.write(
    `\n| drill | requests | answered | redelivered | re-sent | duplicates dropped | time |\n|---|---:|---:|---:|---:|---:|---:|\n${table.join('\n')}\n`,
  );
});

/** Each request's reply lines at the client: every n must appear exactly once. */
function answersPerRequest(c: Running): Map<string, number> {
  const seen = new Map<string, number>();
  for (const line of c.matching(/^ \[\.\] fib\(\d+\) = /)) {
    const n = /fib\((\d+)\)/.exec(line)![1]!;
    seen.set(n, (seen.get(n) ?? 0) + 1);
  }
  return seen;
}

async function threeServers(queue: string): Promise<Running[]> {
  const servers = ['A', 'B', 'C'].map((name) => server(queue, name));
  await Promise.all(servers.map((s) => s.waitFor(/awaiting RPC requests/)));
  return servers;
}

async function finish(drill: string, c: Running) {
  const exit = await within(120, c, c.exited);
  const summary =
    /(\d+) of (\d+) answered in ([\d.]+) s; redelivered to another server: (\d+); re-sent after a reconnect: (\d+); duplicate replies dropped: (\d+)/.exec(
      exit.stderr,
    );
  expect(summary).not.toBeNull();
  const [, answered, requests, seconds, redelivered, resent, duplicates] = summary!;
  table.push(
    `| ${drill} | ${requests} | ${answered} | ${redelivered} | ${resent} | ${duplicates} | ${seconds} s |`,
  );
  expect(exit.code).toBe(0);
  const seen = answersPerRequest(c);
  expect(seen.size).toBe(REQUESTS);
  expect([...seen.values()].every((times) => times === 1)).toBe(true);
  expect(Number(answered)).toBe(REQUESTS);
  return { redelivered: Number(redelivered), resent: Number(resent), duplicates: Number(duplicates) };
}

describe('lesson 10 under faults', () => {
  test('a server SIGKILLed mid-run: every request answered exactly once, the redelivered ones counted', async () => {
    const queue = uniqueName('drill-rpc-kill');
    const servers = await threeServers(queue);
    const c = client(queue);
    await waitForTotal([c], /^ \[\.\] fib\(/, 200);
    servers[0]!.kill('SIGKILL');
    const { redelivered } = await finish('a server SIGKILLed mid-run', c);
    expect(redelivered).toBeGreaterThanOrEqual(1); // it held requests it had not answered
  });

  test('the client’s connection closed by the broker mid-run: it reconnects, re-sends what had no reply, never hangs', async () => {
    const queue = uniqueName('drill-rpc-client');
    await threeServers(queue);
    const c = client(queue);
    const connection = await connectionNamed(node.managementUrl, 'lesson 10 rpc-client');
    await waitForTotal([c], /^ \[\.\] fib\(/, 200);
    await closeConnection(node.managementUrl, connection);
    await within(60, c, c.waitFor(/Reconnected; re-sent the \d+ requests? with no reply yet\./));
    const { resent } = await finish('the client’s connection closed', c);
    expect(resent).toBeGreaterThanOrEqual(1);
  });

  test('a server’s connection closed by the broker mid-run: it reconnects and carries on', async () => {
    const queue = uniqueName('drill-rpc-server');
    const servers = await threeServers(queue);
    const c = client(queue);
    const connection = await connectionNamed(node.managementUrl, 'lesson 10 rpc-server A');
    await waitForTotal([c], /^ \[\.\] fib\(/, 200);
    await closeConnection(node.managementUrl, connection);
    await within(60, servers[0]!, servers[0]!.waitFor(/Reconnected to .*; consuming from/));
    const before = servers[0]!.matching(/\] A fib\(/).length;
    await finish('a server’s connection closed', c);
    expect(servers[0]!.matching(/\] A fib\(/).length).toBeGreaterThan(before); // it took requests again
  });
});
