// The monitor's Prometheus metrics (prom-client) and the HTTP endpoint that serves them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { Log } from '../shared/logger.ts';

export function paceMetrics() {
  const registry = new client.Registry();
  const registers = [registry];
  const gauge = (name: string, help: string) => new client.Gauge({ name, help, registers });
  return {
    registry,
    depth: gauge('pace_queue_depth', 'Messages ready in the queue'),
    unacked: gauge('pace_queue_unacked', 'Messages delivered, not yet acked'),
    memory: gauge('pace_broker_memory_bytes', 'Memory the broker uses (all nodes)'),
    publishRate: gauge('pace_publish_rate', 'Messages published into the queue per second'),
    deliverRate: gauge('pace_deliver_rate', 'Messages delivered from the queue per second'),
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
    backpressure: backpressureCounter(registers),
    targetRate: gauge('pace_producer_target_rate', 'The producer’s current target rate'),
  };
}

/** The kinds of back-pressure the producer reports (its events' `backpressure` keys). */
const backpressureKinds = ['nack', 'drain', 'blocked'] as const;

/**
 * One series per kind from the start, at 0: a labelled counter that was never incremented has no
 * series at all, and a dashboard or an alert on it would see nothing instead of 0 for the whole
 * normal run (Prometheus' instrumentation practice: initialise every known label).
 */
function backpressureCounter(registers: client.Registry[]) {
  const counter = new client.Counter({
    name: 'pace_backpressure_events_total',
    help: 'Back-pressure the producer met, by kind: nack (queue full), drain (client buffer full), blocked (broker alarm)',
    labelNames: ['kind'],
    registers,
  });
  for (const kind of backpressureKinds) counter.inc({ kind }, 0);
  return counter;
}

export type PaceMetrics = ReturnType<typeof paceMetrics>;

/**
 * Serves /metrics on `port`; when that port is taken (another monitor, or anything else), on a free
 * port instead, and says which. Resolves with the server and the port it listens on.
 */
export async function serveMetrics(
  registry: client.Registry,
  port: number,
  host: string,
  log: Log,
): Promise<{ server: Server; port: number }> {
  const server = createServer(async (request, response) => {
    if (request.url === '/metrics') {
      response.setHeader('Content-Type', registry.contentType);
      response.end(await registry.metrics());
    } else {
      response.statusCode = 404;
      response.end('Metrics are at /metrics\n');
    }
  });
  const listen = (on: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(on, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    await listen(0);
    log.warn(
      ` [!] Port ${port} is taken (another monitor? \`ss -ltnp 'sport = :${port}'\` shows what holds it): serving metrics on port ${(server.address() as AddressInfo).port} instead.`,
    );
  }
  return { server, port: (server.address() as AddressInfo).port };
}
