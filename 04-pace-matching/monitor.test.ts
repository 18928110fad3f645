// The monitor's promises: honest figures ("sampling…" before the management API has two samples),
// one sentence when the API cannot be used at start, a failure mid-run shown once and recovered,
// a taken port named, and foreign messages on its exchange ignored.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { settings } from '../shared/config.ts';
import { parseOptions } from '../shared/flags.ts';
import {
  captureLog,
  expectOneSentence,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
} from '../test/testing.ts';
import { pace } from './config.ts';
import { produce, program as producerProgram } from './fast-producer.ts';

const rabbit = useTestConnection();
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

function scene(name: string, limit = 10_000) {
  const queue = rabbit.own(uniqueName(name));
  rabbit.own(pace.deadLetterQueue(queue));
  const events = rabbit.ownExchange(uniqueName(`${name}.events`));
  return ['--queue', queue, '--queue-limit', String(limit), '--events-exchange', events];
}

const monitorArgs = (where: string[]) => [...where, '--interval', '0.25', '--port', '0', '--plain'];
const metricsUrl = (line: string) => /(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(line)![1]!;
const series = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

/** A stand-in for the management API that passes requests through, or fails them on demand. */
async function managementProxy() {
  const target = settings().managementUrl.replace(/\/$/, '');
  const state = { failing: false };
  const server = createServer(async (request, response) => {
    if (state.failing) {
      response.statusCode = 503;
      response.end('down for the test');
      return;
    }
    const answer = await fetch(`${target}${request.url}`, {
      headers: { authorization: request.headers.authorization ?? '' },
    });
    response.statusCode = answer.status;
    response.end(Buffer.from(await answer.arrayBuffer()));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

describe('monitor', () => {
  test('a wrong management password at start is one sentence naming the fix, exit 1', async () => {
    const where = scene('pace-mon-401');
    const url = new URL(settings().managementUrl);
    url.username = 'guest';
    url.password = 'wrong-SECRET';
    const exit = await runProgram('04-pace-matching/monitor', monitorArgs(where), {
      RABBITMQ_MANAGEMENT_URL: url.toString(),
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/refused the login for user 'guest' \(401\).*RABBITMQ_MANAGEMENT_URL/);
    expect(expectOneSentence(exit.stderr, 'wrong-SECRET')).toEqual([]);
  });

  test('an unreachable management API at start is one sentence naming the fix, exit 1', async () => {
    const where = scene('pace-mon-down');
    const exit = await runProgram('04-pace-matching/monitor', monitorArgs(where), {
      RABBITMQ_MANAGEMENT_URL: 'http://127.0.0.1:1',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /management API at http:\/\/127\.0\.0\.1:1 did not answer.*management plugin/,
    );
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });

  test('a taken metrics port: it serves on a free port and says which', async () => {
    const where = scene('pace-mon-port');
    const holder = createServer();
    servers.push(holder);
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const taken = (holder.address() as AddressInfo).port;
    const monitor = start('04-pace-matching/monitor', [...monitorArgs(where), '--port', String(taken)]);
    expect(await monitor.waitFor(/Port \d+ is taken/)).toContain(`Port ${taken} is taken`);
    const url = metricsUrl(await monitor.waitFor(/Prometheus metrics at/));
    expect(url).not.toContain(`:${taken}/`);
    expect(await (await fetch(url)).text()).toMatch(/^# TYPE pace_queue_depth gauge/m);
    monitor.kill('SIGINT');
    expect((await monitor.exited).code).toBe(130);
  });

  test('every metric has its series from the start: each back-pressure kind reads 0 before any event', async () => {
    const where = scene('pace-mon-zero');
    const monitor = start('04-pace-matching/monitor', monitorArgs(where));
    const text = await (await fetch(metricsUrl(await monitor.waitFor(/Prometheus metrics at/)))).text();
    monitor.kill('SIGINT');
    expect((await monitor.exited).code).toBe(130);
    for (const kind of ['nack', 'drain', 'blocked'])
      expect(text).toMatch(new RegExp(`^pace_backpressure_events_total\\{kind="${kind}"\\} 0$`, 'm'));
  });

  test('rates and unacked read "sampling…" until the management API has two samples, never a false 0 while messages flow', async () => {
    const where = scene('pace-mon-sampling');
    const monitor = start('04-pace-matching/monitor', monitorArgs(where));
    await monitor.waitFor(/Prometheus metrics at/);
    const controller = new AbortController();
    const producing = produce(parseOptions(producerProgram, [...where, '--rate', '300']), {
      log: captureLog().log,
      signal: controller.signal,
    });
    const real = await monitor.waitFor(/ publish=[1-9]\d*\/s/);
    controller.abort();
    await producing;
    monitor.kill('SIGINT');
    await monitor.exited;
    const samples = monitor.matching(/ \[[=!]\] depth=/);
    const before = samples.slice(0, samples.indexOf(real));
    expect(before.length).toBeGreaterThan(0);
    expect(before[0]).toMatch(/unacked=sampling… publish=sampling… deliver=sampling…/);
    for (const line of before) expect(line).not.toMatch(/publish=0\/s/);
  });

  test('the management API failing mid-run shows in the view, is logged once, and recovers', async () => {
    const where = scene('pace-mon-midrun');
    const proxy = await managementProxy();
    const monitor = start('04-pace-matching/monitor', monitorArgs(where), {
      RABBITMQ_MANAGEMENT_URL: proxy.url,
    });
    await monitor.waitFor(/memory=\d+ MiB/);
    proxy.state.failing = true;
    await monitor.waitFor(/management API failing/, 3);
    proxy.state.failing = false;
    await monitor.waitFor(/management API answers again/);
    await monitor.waitFor(/memory=\d+ MiB/, monitor.matching(/memory=\d+ MiB/).length + 1);
    monitor.kill('SIGINT');
    expect((await monitor.exited).code).toBe(130);
    expect(monitor.matching(/answered 503/).length).toBe(1);
    expect(monitor.matching(/management API answers again/).length).toBe(1);
  });

  test('foreign messages on the events exchange (not JSON, NaN or null figures) are ignored and the monitor keeps counting', async () => {
    const where = scene('pace-mon-foreign');
    const events = where[5]!;
    const monitor = start('04-pace-matching/monitor', monitorArgs(where));
    const url = metricsUrl(await monitor.waitFor(/Prometheus metrics at/));
    const send = (body: string) => rabbit.channel.publish(events, 'consumer', Buffer.from(body));
    send('not json at all');
    send(JSON.stringify({ source: 'consumer', latencies: [null, 'x'], ages: [null, -1], processed: 2 }));
    send(JSON.stringify({ source: 'producer', targetRate: null, backpressure: { nack: 'many' } }));
    send(JSON.stringify({ source: 'consumer', latencies: [0.01], ages: [1.5], processed: 1 }));
    await rabbit.channel.waitForConfirms();
    const counted = async () => series(await (await fetch(url)).text(), 'pace_message_age_seconds_count');
    while ((await counted()) < 1) await monitor.waitFor(/depth=/, monitor.matching(/depth=/).length + 1);
    expect(await counted()).toBe(1);
    expect(series(await (await fetch(url)).text(), 'pace_message_age_seconds_sum')).toBe(1.5);
    // Still sampling afterwards: its channel is alive.
    await monitor.waitFor(/depth=/, monitor.matching(/depth=/).length + 2);
    monitor.kill('SIGINT');
    expect((await monitor.exited).code).toBe(130);
  });
});
