// Subscriber: the lesson's stand-in for a device. Counts the jobs that arrive and spots duplicates
// by the job id each one carries. With --client-id it keeps a persistent session, so the broker
// holds its jobs while it is away and hands them over when it comes back.

import { CourseError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import type { Log } from '../shared/logger.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { maskUrl } from '../shared/secrets.ts';
import { everyPeriod } from '../shared/status-line.ts';
import { checkTopicFilter } from './jobs.ts';
import { connectMqtt, heldBack, type MqttClient, mqttUrlOf } from './mqtt.ts';
import { explainMqtt, mqttBroker } from './mqtt-errors.ts';

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
        'subscription QoS; 1 for a device that must not miss a job, 0 to count at full speed on one machine',
    },
    clientId: {
      type: 'string',
      description: 'a fixed client id: keep a persistent session, so jobs published while away are kept',
    },
    sessionExpiry: {
      type: 'integer',
      min: 1,
      default: 3600,
      description: 'with --client-id: seconds the broker keeps the session after a disconnect',
    },
    reconnectSeconds: {
      type: 'number',
      min: 0,
      default: 30,
      description: 'seconds to keep reconnecting after losing the broker, before giving up',
    },
  },
  examples: [
    'npm run lesson:06 -- subscriber',
    'npm run lesson:06 -- subscriber --client-id valve-7 --count 500',
    'npm run lesson:06 -- subscriber --qos 0 --count 20000',
  ],
});

type Options = Values<typeof program.flags>;

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

/** The job ids seen so far: a job that arrives again (at-least-once) is counted as a duplicate. */
class Jobs {
  readonly seen = new Set<string>();
  readonly duplicateIds: string[] = [];
  period = 0;
  firstAt = 0;
  lastAt = 0;

  arrived(id: string): boolean {
    const duplicate = this.seen.has(id);
    if (duplicate) this.duplicateIds.push(id);
    else this.seen.add(id);
    this.period++;
    this.lastAt = Date.now();
    this.firstAt ||= this.lastAt;
    return duplicate;
  }
}

function userProperty(properties: Record<string, string | string[]> | undefined, name: string) {
  const value = properties?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * While the connection is down, mqtt.js reconnects every second; after --reconnect-seconds we
 * give up with one sentence rather than wait for ever.
 */
function watchConnection(mqtt: MqttClient, options: Options, log: Log, giveUp: (error: CourseError) => void) {
  let timer: NodeJS.Timeout | undefined;
  let reason = 'the connection closed';
  mqtt.on('error', (error) => {
    if (heldBack(error)) return;
    reason = String((error as { code?: string }).code ?? error.message);
  });
  mqtt.on('close', () => {
    if (timer || mqtt.disconnecting) return;
    log.warn(` [!] Lost the MQTT broker (${reason}): reconnecting…`);
    timer = setTimeout(() => {
      const sentence = `Lost the MQTT broker at ${maskUrl(mqttUrlOf(mqtt))} (${reason}) and could not reconnect within ${options.reconnectSeconds} s: start it (npm run services), then run the subscriber again.`;
      giveUp(new CourseError(sentence, { code: 'CLOSED_BY_BROKER' }));
    }, options.reconnectSeconds * 1000);
  });
  mqtt.on('connect', (connack) => {
    if (!timer) return;
    clearTimeout(timer);
    timer = undefined;
    log.info(
      connack.sessionPresent
        ? ' [*] Reconnected; the broker kept our session: jobs published meanwhile are on their way.'
        : ' [*] Reconnected with a new session: jobs published while we were away were not kept for us (use --client-id).',
    );
  });
  return () => clearTimeout(timer);
}

export async function subscribe(
  options: Options,
  { log, signal }: RunContext,
  onJob: (arrival: Arrival, duplicate: boolean) => void = () => {},
): Promise<SubscriberSummary> {
  checkTopicFilter(options.topic); // refused here, in one sentence, not by the broker after connecting
  const jobs = new Jobs();
  let finished = false;
  let finish: (error?: CourseError) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = (error) => {
      finished = true;
      if (error) reject(error);
      else resolve();
    };
  });
  signal.addEventListener('abort', () => finish(), { once: true });
  const onMessage = (
    topic: string,
    _payload: Buffer,
    packet: { properties?: { userProperties?: Record<string, string | string[]> } },
  ) => {
    const id = userProperty(packet.properties?.userProperties, 'job-id') ?? 'no-id';
    const fireAt = Number(userProperty(packet.properties?.userProperties, 'fire-at'));
    const duplicate = jobs.arrived(id);
    onJob({ id, topic, receivedAt: Date.now(), fireAt }, duplicate);
    if (options.count !== undefined && jobs.seen.size >= options.count) finish();
  };
  const mqtt = await connectMqtt({
    clientId: options.clientId ?? `subscriber-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    // A fixed client id and a session expiry: the broker keeps our subscription and queues QoS 1
    // jobs for us while we are away (up to its per-client limit: Mosquitto's max_queued_messages).
    ...(options.clientId ? { sessionExpirySeconds: options.sessionExpiry } : {}),
    reconnectPeriod: 1000,
    // Before the CONNACK is handled: a kept session's jobs can arrive in the same read.
    listen: (client) => client.on('message', onMessage),
    // After --count or Ctrl+C, jobs still arriving are not acknowledged: the session keeps them for
    // our next run. Acknowledged and dropped, they would be lost between the broker and the device.
    accept: () => !finished,
  });
  const stopWatching = watchConnection(mqtt, options, log, finish);
  const stopStatus = everyPeriod(log, options.statusSeconds, (elapsed) => {
    const line = ` [<] ${jobs.seen.size} jobs (${Math.round(jobs.period / elapsed)}/s), ${jobs.duplicateIds.length} duplicates`;
    jobs.period = 0;
    return line;
  });
  try {
    await mqtt.subscribeAsync(options.topic, { qos: options.qos as 0 | 1 }).catch((error: unknown) => {
      throw explainMqtt(error, mqttUrlOf(mqtt));
    });
    log.info(
      ` [*] Subscribed to ${options.topic} (QoS ${options.qos}${options.clientId ? `, session '${options.clientId}' kept ${options.sessionExpiry} s` : ''}). To exit press CTRL+C`,
    );
    await done;
  } finally {
    stopStatus();
    stopWatching();
    await mqtt.endAsync().catch(() => {});
  }
  const { seen, duplicateIds } = jobs;
  log.success(
    ` [✓] ${seen.size} distinct jobs, ${duplicateIds.length} duplicates${duplicateIds.length ? ` (${duplicateIds.slice(0, 5).join(', ')}…)` : ''}; ${((jobs.lastAt - jobs.firstAt) / 1000).toFixed(3)} s from the first to the last.`,
  );
  if (options.clientId)
    log.info(
      ` [*] The broker keeps session '${options.clientId}' for ${options.sessionExpiry} s: jobs for it queue up until we are back.`,
    );
  return { unique: seen.size, duplicates: duplicateIds.length, duplicateIds };
}

runMain(import.meta, program, subscribe, [mqttBroker]);
