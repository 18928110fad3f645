// Subscriber: counts the jobs that arrive, and spots duplicates by the job id each one carries.
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { connectMqtt } from '../shared/mqtt.ts';

export const program = defineProgram({
  name: 'subscriber',
  summary: 'Subscribe to job topics, count jobs, and detect duplicates by job id.',
  flags: {
    topic: { type: 'string', default: 'job/#', description: 'the topic filter to subscribe to' },
    count: { type: 'integer', min: 1, description: 'stop after this many distinct jobs' },
    statusSeconds: { type: 'number', min: 0.1, default: 1, description: 'seconds between status lines' },
    qos: {
      type: 'integer',
      min: 0,
      max: 1,
      default: 1,
      description:
        'subscription QoS; 0 avoids Mosquitto’s 20-message in-flight window when counting at full speed',
    },
  },
  examples: ['npm run lesson:06 -- subscriber', 'npm run lesson:06 -- subscriber --count 20000'],
});

export interface Arrival {
  id: string;
  topic: string;
  receivedAt: number;
  fireAt: number;
}

export interface SubscriberSummary {
  unique: number;
  duplicates: number;
  duplicateIds: string[];
}

export async function subscribe(
  options: Values<typeof program.flags>,
  { log, signal }: RunContext,
  onJob: (arrival: Arrival, duplicate: boolean) => void = () => {},
): Promise<SubscriberSummary> {
  const mqtt = await connectMqtt({
    clientId: `subscriber-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  });
  const seen = new Set<string>();
  const duplicateIds: string[] = [];
  let period = 0;
  let firstAt = 0;
  let lastAt = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  signal.addEventListener('abort', () => resolveDone(), { once: true });
  mqtt.on('close', () => resolveDone());
  mqtt.on('message', (topic, _payload, packet) => {
    const property = packet.properties?.userProperties?.['job-id'];
    const id = String(Array.isArray(property) ? property[0] : (property ?? 'no-id'));
    const fire = packet.properties?.userProperties?.['fire-at'];
    const duplicate = seen.has(id);
    if (duplicate) duplicateIds.push(id);
    else seen.add(id);
    period++;
    lastAt = Date.now();
    firstAt ||= lastAt;
    onJob(
      { id, topic, receivedAt: Date.now(), fireAt: Number(Array.isArray(fire) ? fire[0] : fire) },
      duplicate,
    );
    if (options.count !== undefined && seen.size >= options.count) resolveDone();
  });
  const ticker = setInterval(() => {
    log.info(
      ` [<] ${seen.size} jobs (${Math.round(period / options.statusSeconds)}/s), ${duplicateIds.length} duplicates`,
    );
    period = 0;
  }, options.statusSeconds * 1000);
  try {
    await mqtt.subscribeAsync(options.topic, { qos: options.qos as 0 | 1 });
    log.info(` [*] Subscribed to ${options.topic} (QoS ${options.qos}). To exit press CTRL+C`);
    await done;
  } finally {
    clearInterval(ticker);
    await mqtt.endAsync().catch(() => {});
  }
  log.success(
    ` [✓] ${seen.size} distinct jobs, ${duplicateIds.length} duplicates${duplicateIds.length ? ` (${duplicateIds.slice(0, 5).join(', ')}…)` : ''}; ${((lastAt - firstAt) / 1000).toFixed(3)} s from the first to the last.`,
  );
  return { unique: seen.size, duplicates: duplicateIds.length, duplicateIds };
}

runMain(import.meta, program, subscribe);
