// Monitor: watches the queue, the broker and the two programs, serves it all as Prometheus
// metrics, and draws a live view that fits an 80-column terminal.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chalkStderr as chalk } from 'chalk';
import client from 'prom-client';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { managementAuth, settings, urlVhost } from '../shared/config.ts';
import { connect } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { declareEvents, declarePaceQueue, type PaceEvent, pace, queueFlags } from './config.ts';

export const program = defineProgram({
  name: 'monitor',
  summary: 'Watch queue depth, rates, memory and back-pressure; serve them as Prometheus metrics.',
  flags: {
    ...queueFlags,
    interval: {
      type: 'number',
      min: 0.05,
      default: pace.monitorSeconds,
      description: 'seconds between samples',
    },
    port: {
      type: 'integer',
      min: 0,
      max: 65535,
      default: pace.metricsPort,
      description: 'metrics port (0 = any free port)',
    },
    host: {
      type: 'string',
      default: pace.metricsHost,
      description: 'metrics address (0.0.0.0 to let other machines scrape)',
    },
    depthWarning: {
      type: 'number',
      min: 0,
      max: 1,
      default: pace.depthWarning,
      description: 'warn when depth passes this share of the limit',
    },
    plain: { type: 'boolean', default: false, description: 'one line per sample instead of the live view' },
  },
  examples: ['npm run lesson:04 -- monitor', 'curl -s http://127.0.0.1:8000/metrics | grep pace_'],
});

type Options = Values<typeof program.flags>;

function metrics() {
  const registry = new client.Registry();
  const registers = [registry];
  return {
    registry,
    depth: new client.Gauge({ name: 'pace_queue_depth', help: 'Messages ready in the queue', registers }),
    unacked: new client.Gauge({
      name: 'pace_queue_unacked',
      help: 'Messages delivered, not yet acked',
      registers,
    }),
    memory: new client.Gauge({
      name: 'pace_broker_memory_bytes',
      help: 'Memory the broker uses (all nodes)',
      registers,
    }),
    publishRate: new client.Gauge({
      name: 'pace_publish_rate',
      help: 'Messages published into the queue per second',
      registers,
    }),
    deliverRate: new client.Gauge({
      name: 'pace_deliver_rate',
      help: 'Messages delivered from the queue per second',
      registers,
    }),
    latency: new client.Histogram({
      name: 'pace_processing_latency_seconds',
      help: 'Time the consumer takes per message',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    age: new client.Histogram({
      name: 'pace_message_age_seconds',
      help: 'Time from publish to processing',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    backpressure: new client.Counter({
      name: 'pace_backpressure_events_total',
      help: 'Back-pressure the producer met, by kind: nack (queue full), drain (client buffer full), blocked (broker alarm)',
      labelNames: ['kind'],
      registers,
    }),
    targetRate: new client.Gauge({
      name: 'pace_producer_target_rate',
      help: 'The producer’s current target rate',
      registers,
    }),
  };
}

interface Management {
  unacked: number;
  publishRate: number;
  deliverRate: number;
  memory: number;
}

async function readManagement(queue: string): Promise<Management | undefined> {
  const { base, authorization } = managementAuth();
  const vhost = encodeURIComponent(urlVhost(settings().amqpUrls[0] ?? ''));
  const get = async (path: string) => {
    const response = await fetch(`${base}${path}`, {
      headers: { authorization },
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) throw new Error(`${response.status}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  try {
    const [q, nodes] = await Promise.all([
      get(`/api/queues/${vhost}/${encodeURIComponent(queue)}`),
      get('/api/nodes'),
    ]);
    const stats = (q.message_stats ?? {}) as Record<string, { rate?: number }>;
    return {
      unacked: Number(q.messages_unacknowledged ?? 0),
      publishRate: stats.publish_details?.rate ?? 0,
      deliverRate: stats.deliver_get_details?.rate ?? 0,
      memory: (nodes as unknown as { mem_used?: number }[]).reduce(
        (sum, node) => sum + (node.mem_used ?? 0),
        0,
      ),
    };
  } catch {
    return undefined;
  }
}

const bars = '▁▂▃▄▅▆▇█';
export function sparkline(values: number[], max: number): string {
  return values
    .map((v) => bars[Math.min(bars.length - 1, Math.floor((v / Math.max(max, 1)) * (bars.length - 1)))])
    .join('');
}

export async function monitor(options: Options, { log, signal }: RunContext): Promise<void> {
  const m = metrics();
  const server = createServer(async (request, response) => {
    if (request.url === '/metrics') {
      response.setHeader('Content-Type', m.registry.contentType);
      response.end(await m.registry.metrics());
    } else {
      response.statusCode = 404;
      response.end('Metrics are at /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new CourseError(
              `Port ${options.port} is taken (another monitor?): stop it, or choose another with --port.`,
              { code: 'PORT_TAKEN' },
            )
          : error,
      ),
    );
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;

  const broker = await connect({ log, recover: true, name: 'lesson 04 monitor' });
  const latest = { targetRate: 0, nacks: 0, drains: 0, blocked: 0, age: 0 };
  try {
    const channel = await broker.channel();
    await declarePaceQueue(channel, options);
    await declareEvents(channel, options.eventsExchange);
    const { queue: inbox } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(inbox, options.eventsExchange, '#');
    await channel.consume(
      inbox,
      (message) => {
        if (!message) return;
        const event = JSON.parse(message.content.toString()) as PaceEvent;
        if (event.source === 'producer') {
          m.targetRate.set(event.targetRate);
          latest.targetRate = event.targetRate;
          for (const [kind, n] of Object.entries(event.backpressure)) if (n) m.backpressure.inc({ kind }, n);
          latest.nacks += event.backpressure.nack;
          latest.drains += event.backpressure.drain;
          latest.blocked += event.backpressure.blocked;
        } else {
          for (const seconds of event.latencies) m.latency.observe(seconds);
          for (const seconds of event.ages) m.age.observe(seconds);
          if (event.ages.length) latest.age = event.ages[event.ages.length - 1]!;
        }
      },
      { noAck: true },
    );
    log.info(
      ` [*] Monitoring ${options.queue}; Prometheus metrics at http://${options.host}:${port}/metrics. To stop press CTRL+C`,
    );

    const history: number[] = [];
    const live = !options.plain && Boolean(process.stderr.isTTY);
    while (!signal.aborted) {
      // Depth from AMQP (exact, now); the rest from the management API (sampled every 5 s by the broker).
      const { messageCount } = await channel.checkQueue(options.queue);
      const management = await readManagement(options.queue);
      m.depth.set(messageCount);
      if (management) {
        m.unacked.set(management.unacked);
        m.publishRate.set(management.publishRate);
        m.deliverRate.set(management.deliverRate);
        m.memory.set(management.memory);
      }
      history.push(messageCount);
      if (history.length > 60) history.shift();
      const full = messageCount >= options.depthWarning * options.queueLimit;
      const figures = `depth=${messageCount} unacked=${management?.unacked ?? '?'} publish=${management?.publishRate.toFixed(0) ?? '?'}/s deliver=${management?.deliverRate.toFixed(0) ?? '?'}/s memory=${management ? (management.memory / 2 ** 20).toFixed(0) : '?'}MiB target=${latest.targetRate}/s nacks=${latest.nacks} drains=${latest.drains} blocked=${latest.blocked} age=${latest.age.toFixed(2)}s`;
      if (live)
        process.stderr.write(
          `\x1b[H\x1b[2J${view(options, port, messageCount, management, latest, history, full)}\n`,
        );
      else log.info(`${full ? ' [!]' : ' [=]'} ${figures}`);
      await sleep(options.interval * 1000, undefined, { signal }).catch(() => {});
    }
  } finally {
    server.close();
    await broker.close();
  }
}

function view(
  options: Options,
  port: number,
  depth: number,
  management: Management | undefined,
  latest: { targetRate: number; nacks: number; drains: number; blocked: number; age: number },
  history: number[],
  full: boolean,
): string {
  const row = (label: string, value: string) => `  ${label.padEnd(22)}${value}`;
  const depthText = `${depth} / ${options.queueLimit}`;
  return [
    chalk.bold(`Pace monitor — ${options.queue}`) +
      chalk.gray(`   metrics: http://${options.host}:${port}/metrics`),
    '',
    row('queue depth (ready)', full ? chalk.red(`${depthText}  near the limit`) : depthText),
    row('unacked', String(management?.unacked ?? '?')),
    row('publish rate', `${management?.publishRate.toFixed(0) ?? '?'} msg/s`),
    row('deliver rate', `${management?.deliverRate.toFixed(0) ?? '?'} msg/s`),
    row('broker memory', `${management ? (management.memory / 2 ** 20).toFixed(0) : '?'} MiB`),
    row('producer target', `${latest.targetRate} msg/s`),
    row('back-pressure', `nacks ${latest.nacks}  drains ${latest.drains}  blocked ${latest.blocked}`),
    row('last message age', `${latest.age.toFixed(2)} s`),
    '',
    `  depth ${sparkline(history, options.queueLimit)}`,
    chalk.gray('  (rates come from the management API, which samples every 5 s)   Ctrl+C to stop'),
  ].join('\n');
}

runMain(import.meta, program, monitor);
