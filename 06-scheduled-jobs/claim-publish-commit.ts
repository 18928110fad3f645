// One batch of a publisher's lane, in one transaction: claim due jobs with FOR UPDATE SKIP LOCKED,
// publish each to MQTT, and COMMIT only after the broker's PUBACKs. Anything failing rolls the whole
// batch back, so its jobs stay due; a COMMIT whose answer is lost is settled in lost-commit.ts.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { settings } from '../shared/config.ts';
import { CourseError } from '../shared/errors.ts';
import type { Log } from '../shared/logger.ts';
import { maskUrl } from '../shared/secrets.ts';
import {
  lastMqttError,
  type MqttClient,
  type MqttLink,
  mqttUrlOf,
  publishWithReason,
  whenLost,
} from './mqtt.ts';
import { describeReason, explainMqtt } from './mqtt-errors.ts';
import type { Client } from './postgres.ts';
import { explainPostgresError } from './postgres-errors.ts';
import type { Tally } from './publisher-status.ts';

/** What a batch reads of the publisher's flags (publisher.ts documents each one). */
export interface BatchOptions {
  jobsPerRead: number;
  name: string;
  consumerCount?: number | undefined;
  consumerIndex?: number | undefined;
  qos: number;
  ackTimeout: number;
  pauseBeforeCommit?: number | undefined;
}

/** A lane: its own PostgreSQL connection, the publisher's one MQTT link, and what it counts. */
export interface Lane {
  number: number;
  db: Client;
  options: BatchOptions;
  link: MqttLink;
  tally: Tally;
  log: Log;
  signal: AbortSignal;
}

export interface Job {
  id: string;
  topic: string;
  payload: string;
  fire_ms: number;
  /** The claiming transaction: after a COMMIT whose answer was lost, PostgreSQL says how it ended. */
  txid: string;
}

/** What the broker said about a batch: the jobs it refused (and why), and how many nobody heard. */
export interface Verdict {
  refused: { id: string; topic: string; reason: string }[];
  unheard: number;
}

/** A batch whose COMMIT was sent but never answered: it may have committed, or not. */
export interface Unanswered {
  txid: string;
  jobs: number;
  verdict: Verdict;
}

/**
 * A batch that failed: which service failed it (already one sentence), how many jobs it held, and,
 * when the connection went during its COMMIT, what is needed to ask PostgreSQL how it ended.
 */
export class BatchFailed extends Error {
  constructor(
    readonly service: 'MQTT' | 'PostgreSQL',
    readonly error: CourseError,
    readonly jobs: number,
    readonly unanswered?: Unanswered,
  ) {
    super(error.message, { cause: error });
  }
}

/** One claim → publish → commit. Anything failing rolls the whole batch back: its jobs stay due. */
export async function transfer(lane: Lane, batchNumber: () => number): Promise<Job[]> {
  const { db, options, tally } = lane;
  const mqtt = await lane.link.client();
  let service: BatchFailed['service'] = 'PostgreSQL';
  let jobs: Job[] = [];
  let unanswered: Unanswered | undefined;
  try {
    await db.query('BEGIN');
    jobs = await claim(db, options, tally);
    if (jobs.length === 0) {
      await db.query('COMMIT');
      return jobs;
    }
    service = 'MQTT';
    const verdict = await publishBatch(mqtt, jobs, options);
    service = 'PostgreSQL';
    if (verdict.refused.length) await setAside(db, verdict.refused);
    if (batchNumber() === options.pauseBeforeCommit)
      await pauseBeforeCommit(jobs.length, lane.log, lane.signal);
    // Only now, with every job acknowledged by the broker, do they count as processed.
    unanswered = { txid: jobs[0]!.txid, jobs: jobs.length, verdict };
    await db.query('COMMIT');
    tally.committed(jobs.length, verdict.unheard, verdict.refused.length);
    reportRefused(lane, verdict.refused);
    return jobs;
  } catch (error) {
    await db.query('ROLLBACK').catch(() => {});
    const explained =
      service === 'MQTT'
        ? explainMqtt(lastMqttError(mqtt) ?? error, mqttUrlOf(mqtt))
        : explainPostgresError(error, settings().databaseUrl);
    if (service === 'MQTT') lane.link.lost(mqtt);
    throw new BatchFailed(service, explained, jobs.length, unanswered);
  }
}

// Claim and mark in one statement: the rows stay locked until COMMIT, which comes only after every
// PUBACK. SKIP LOCKED makes another lane or publisher take the next rows instead of waiting.
function claimStatement(options: BatchOptions): { text: string; values: unknown[] } {
  const partitioned = options.consumerCount !== undefined;
  const text = `UPDATE jobs SET processed = true, processed_at = now(), published_by = $2
    WHERE id IN (
      SELECT id FROM jobs
      WHERE NOT processed AND fire_at <= now()${partitioned ? ' AND id % $3 = $4' : ''}
      ORDER BY fire_at
      LIMIT $1
      FOR UPDATE SKIP LOCKED)
    RETURNING id, topic, payload, (extract(epoch FROM fire_at) * 1000)::float8 AS fire_ms,
      txid_current()::text AS txid`;
  const values = [
    options.jobsPerRead,
    options.name,
    ...(partitioned ? [options.consumerCount, options.consumerIndex] : []),
  ];
  return { text, values };
}

async function claim(db: Client, options: BatchOptions, tally: Tally): Promise<Job[]> {
  const started = performance.now();
  const { text, values } = claimStatement(options);
  const { rows } = await db.query<Job>(text, values);
  tally.claimed(performance.now() - started);
  return rows.sort((a, b) => a.fire_ms - b.fire_ms);
}

/**
 * Publishes the whole batch at once and waits for every PUBACK, for at most --ack-timeout seconds.
 * A reason code of 0x80 or more refuses that one job; 0x10 means nobody was subscribed.
 */
async function publishBatch(mqtt: MqttClient, jobs: Job[], options: BatchOptions): Promise<Verdict> {
  const verdict: Verdict = { refused: [], unheard: 0 };
  const publishes = jobs.map(async (job) => {
    try {
      // The job id travels as an MQTT 5 user property, so subscribers can drop a duplicate.
      const reason = await publishWithReason(mqtt, job.topic, job.payload, {
        qos: options.qos as 0 | 1 | 2,
        properties: { userProperties: { 'job-id': job.id, 'fire-at': String(job.fire_ms) } },
      });
      if (reason === 0x10) verdict.unheard++;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'number' || code < 0x80) throw error;
      verdict.refused.push({ id: job.id, topic: job.topic, reason: describeReason(code) });
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const sentence = `The MQTT broker at ${maskUrl(mqttUrlOf(mqtt))} did not acknowledge a batch of ${jobs.length} publishes within ${options.ackTimeout} s.`;
      reject(new CourseError(sentence, { code: 'TIMEOUT' }));
    }, options.ackTimeout * 1000);
  });
  try {
    await Promise.race([Promise.all(publishes), whenLost(mqtt), silence]);
  } finally {
    clearTimeout(timer);
  }
  return verdict;
}

/** A job the broker refused is marked with its reason in the same transaction: the next ones go on. */
async function setAside(db: Client, refused: Verdict['refused']): Promise<void> {
  await db.query(
    `UPDATE jobs SET failure = f.reason FROM unnest($1::bigint[], $2::text[]) AS f(id, reason)
     WHERE jobs.id = f.id`,
    [refused.map((job) => job.id), refused.map((job) => `refused by the MQTT broker: ${job.reason}`)],
  );
}

/** The deterministic window for the kill -9 drill: published and acknowledged, not committed. */
async function pauseBeforeCommit(jobs: number, log: Log, signal: AbortSignal): Promise<void> {
  log.warn(
    ` [‖] ${jobs} jobs published and acknowledged (PUBACK), not yet committed: press Enter to COMMIT, or kill -9 ${process.pid} now and they stay due.`,
  );
  const lines = createInterface({ input: process.stdin });
  try {
    await Promise.race([once(lines, 'line', { signal }), once(lines, 'close', { signal })]);
  } catch {
    // Ctrl+C: the batch rolls back below, as after any failure.
  } finally {
    lines.close();
  }
  if (signal.aborted) throw new CourseError('Interrupted before COMMIT.', { code: 'INTERRUPTED' });
}

/** Refused jobs are committed with their reason, and said once, whichever way the COMMIT was learnt. */
export function reportRefused(lane: Lane, refused: Verdict['refused']): void {
  if (refused.length === 0) return;
  const first = refused[0]!;
  lane.log.warn(
    ` [!] ${refused.length} jobs refused by the MQTT broker (job ${first.id} on '${first.topic}': ${first.reason}): set aside with the reason in jobs.failure; the rest of the batch is committed.`,
  );
}
