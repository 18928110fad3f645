// Monitor: watches the queue, the broker and the two programs, serves it all as Prometheus
// metrics, and draws a live view that fits an 80-column terminal.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Channel, connect } from '../shared/connection.ts';
import { keepConsuming } from '../shared/consume.ts';
import { withTimeout } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { ManagementClient } from '../shared/management.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { pace, queueFlags } from './config.ts';
import { declareEvents, type PaceEvent, parseEvent } from './events.ts';
import { ManagementSampler } from './management-sampler.ts';
import { type PaceMetrics, paceMetrics, serveMetrics } from './metrics.ts';
import { type Frame, type Latest, liveView, plainLine } from './monitor-view.ts';
import { declarePaceQueue } from './pace-queue.ts';

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

export { sparkline } from './monitor-view.ts';

export async function monitor(options: Options, { log, signal }: RunContext): Promise<void> {
  // A wrong password or no management plugin is a mistake to report now, not a view full of '?'.
  const api = new ManagementClient();
  await api.overview();
  const metrics = paceMetrics();
  const { server, port } = await serveMetrics(metrics.registry, options.port, options.host, log);
  const metricsUrl = `http://${options.host}:${port}/metrics`;
  const connection = await connect({ log, recover: true, name: `lesson 04 monitor (pid ${process.pid})` });
  const latest: Latest = { targetRate: 0, nacks: 0, drains: 0, blocked: 0, age: 0 };
  let announced = false;
  let declared: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    declared = resolve;
  });
  try {
    // What producer and consumer report, on a queue of our own; this setup runs again after every
    // reconnect, so the monitor keeps hearing them on a new channel (or a new node).
    const events = keepConsuming(
      connection,
      async (channel) => {
        await declarePaceQueue(channel, options);
        await declareEvents(channel, options.eventsExchange);
        const { queue: inbox } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
        await channel.bindQueue(inbox, options.eventsExchange, '#');
        if (!announced)
          log.info(
            ` [*] Monitoring ${options.queue}; Prometheus metrics at ${metricsUrl}. To stop press CTRL+C`,
          );
        announced = true;
        declared();
        return channel.consume(
          inbox,
          (message) => {
            if (!message) return;
            const event = parseEvent(message.content); // a foreign or malformed message is dropped
            if (event) record(event, metrics, latest);
          },
          { noAck: true }, // figures for humans: losing one on a reconnect costs nothing
        );
      },
      { signal, log },
    );
    let eventsEnded = false;
    const ended = events.finally(() => {
      eventsEnded = true;
    });
    ended.catch(() => {});
    await Promise.race([ready, ended]); // sample once the queue is declared, not before

    const sampler = new ManagementSampler(api, options.queue, log);
    const depth = new DepthReader(connection, options.queue, log);
    const history: number[] = [];
    const live = !options.plain && Boolean(process.stderr.isTTY);
    while (!signal.aborted && !eventsEnded) {
      // Depth from AMQP (exact, now); the rest from the management API (sampled every 5 s by the broker).
      const ready = await depth.read();
      const management = await sampler.sample(ready);
      if (ready !== undefined) {
        metrics.depth.set(ready);
        history.push(ready);
        if (history.length > 60) history.shift();
      }
      if (management.unacked !== undefined) metrics.unacked.set(management.unacked);
      if (management.publishRate !== undefined) metrics.publishRate.set(management.publishRate);
      if (management.deliverRate !== undefined) metrics.deliverRate.set(management.deliverRate);
      if (management.memory !== undefined) metrics.memory.set(management.memory);
      const frame: Frame = {
        queue: options.queue,
        queueLimit: options.queueLimit,
        metricsUrl,
        depth: ready,
        broker: depth.problem,
        management,
        latest,
        history,
        full: ready !== undefined && ready >= options.depthWarning * options.queueLimit,
      };
      if (live) process.stderr.write(`\x1b[H\x1b[2J${liveView(frame)}\n`);
      else log.info(plainLine(frame));
      await sleep(options.interval * 1000, undefined, { signal }).catch(() => {});
    }
    await ended;
  } finally {
    server.close();
    await connection.close();
  }
}

/** Adds one event from the producer or the consumer to the metrics and the view's figures. */
function record(event: PaceEvent, metrics: PaceMetrics, latest: Latest): void {
  if (event.source === 'producer') {
    metrics.targetRate.set(event.targetRate);
    latest.targetRate = event.targetRate;
    for (const [kind, n] of Object.entries(event.backpressure)) if (n) metrics.backpressure.inc({ kind }, n);
    latest.nacks += event.backpressure.nack;
    latest.drains += event.backpressure.drain;
    latest.blocked += event.backpressure.blocked;
  } else {
    for (const seconds of event.latencies) metrics.latency.observe(seconds);
    for (const seconds of event.ages) metrics.age.observe(seconds);
    if (event.ages.length) latest.age = event.ages[event.ages.length - 1]!;
  }
}

/**
 * The queue's depth by a passive declare (exact, unlike the management API), on a channel of its
 * own that is opened again after a reconnect; while the broker is out of reach, undefined and why.
 */
class DepthReader {
  private channel: Channel | undefined;
  private opening: Promise<Channel> | undefined;
  problem: string | undefined;

  constructor(
    private readonly connection: Awaited<ReturnType<typeof connect>>,
    private readonly queue: string,
    private readonly log: { warn(m: string): void; info(m: string): void },
  ) {}

  async read(): Promise<number | undefined> {
    try {
      if (!this.channel || !this.connection.isOpen(this.channel)) {
        this.opening ??= this.connection.channel().finally(() => {
          this.opening = undefined;
        });
        const opening = this.opening;
        this.channel = await withTimeout(opening, 2000, 'A channel to RabbitMQ');
        this.channel.on('error', () => {}); // a missing queue (404) closes it; the next read opens another
      }
      const { messageCount } = await withTimeout(this.channel.checkQueue(this.queue), 2000, 'The depth');
      if (this.problem) this.log.info(` [*] RabbitMQ answers again: depth ${messageCount}.`);
      this.problem = undefined;
      return messageCount;
    } catch (error) {
      const why = /NOT.FOUND/.test((error as Error).message)
        ? `the queue ${this.queue} does not exist`
        : 'reconnecting…';
      if (this.problem !== why) this.log.warn(` [!] Cannot read the depth of ${this.queue}: ${why}`);
      this.problem = why;
      return undefined;
    }
  }
}

runMain(import.meta, program, monitor);
