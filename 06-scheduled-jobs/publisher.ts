// Publisher: claims due jobs with FOR UPDATE SKIP LOCKED, publishes each to MQTT, and marks them
// processed in the same transaction, committed only after the broker's PUBACKs. Several lanes
// (claim → publish → commit, each on its own PostgreSQL connection) keep batches in flight, so a
// slow PUBACK never stalls the next claim. Run as many publishers side by side as you like: none
// blocks another, and no job is claimed by two.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { maskUrl, settings } from '../shared/config.ts';
import { CourseError, UsageError } from '../shared/errors.ts';
import type { Log } from '../shared/logger.ts';
import {
  lastMqttError,
  type MqttClient,
  MqttLink,
  mqttUrlOf,
  publishWithReason,
  whenLost,
} from '../shared/mqtt.ts';
import { describeReason, explainMqtt } from '../shared/mqtt-errors.ts';
import type { Client } from '../shared/postgres.ts';
import { connectionLost, explainPostgresError } from '../shared/postgres-errors.ts';
import { retryFor } from '../shared/retry.ts';
import { databaseFlags, openJobs } from './jobs.ts';
import { startStatusLine, summaryLine, Tally } from './publisher-status.ts';

export const program = defineProgram({
  name: 'publisher',
  summary: 'Publish due jobs from PostgreSQL to MQTT, each exactly when due, safely beside other publishers.',
  flags: {
    jobsPerRead: { type: 'integer', min: 1, max: 10_000, default: 100, description: 'jobs claimed per read' },
    lanes: {
      type: 'integer',
      min: 1,
      max: 64,
      default: 4,
      description: 'batches in flight at once, each claimed and committed on its own PostgreSQL connection',
    },
    loopMs: {
      type: 'integer',
      min: 0,
      default: 50,
      description: 'milliseconds a lane waits after a read that was not full',
    },
    consumerCount: {
      type: 'integer',
      min: 1,
      description: 'optional partitioning: how many publishers share the table by id modulo',
    },
    consumerIndex: {
      type: 'integer',
      min: 0,
      description: 'optional partitioning: which share this publisher takes (0-based)',
    },
    maxReads: { type: 'integer', min: 1, description: 'stop after this many reads' },
    exitWhenIdle: { type: 'boolean', default: false, description: 'stop once a read finds no due job' },
    qos: {
      type: 'integer',
      min: 0,
      max: 2,
      default: 1,
      description:
        'MQTT QoS (1: the broker acknowledges each job; 0: nothing to wait for, nothing guaranteed)',
    },
    ackTimeout: {
      type: 'number',
      min: 0.1,
      default: 10,
      description: 'seconds to wait for the MQTT broker (CONNACK, or a batch’s PUBACKs) before rolling back',
    },
    reconnectSeconds: {
      type: 'number',
      min: 0,
      default: 30,
      description: 'seconds to keep reconnecting to MQTT or PostgreSQL before giving up',
    },
    lateAfter: {
      type: 'number',
      min: 0,
      default: 60,
      description: 'a job published this many seconds after its time counts as late',
    },
    statusSeconds: { type: 'number', min: 0.1, default: 5, description: 'seconds between status lines' },
    synchronousCommit: {
      type: 'string',
      default: 'on',
      choices: ['on', 'off'],
      description:
        'off: COMMIT does not wait for the disk; a database crash can then re-publish, never lose, a batch',
    },
    pauseBeforeCommit: {
      type: 'integer',
      min: 1,
      description:
        'stop before the COMMIT of the Nth batch, after its PUBACKs, until Enter (try kill -9 then)',
    },
    name: {
      type: 'string',
      default: `P${process.pid}`,
      description: 'this instance’s name, stored with each job it publishes',
    },
    ...databaseFlags,
  },
  examples: [
    'npm run lesson:06 -- publisher',
    'npm run lesson:06 -- publisher --jobs-per-read 1000 --lanes 4 --exit-when-idle',
    'npm run lesson:06 -- publisher --lanes 1 --pause-before-commit 1',
  ],
});

type Options = Values<typeof program.flags>;

interface Job {
  id: string;
  topic: string;
  payload: string;
  fire_ms: number;
  /** The claiming transaction: after a COMMIT whose answer was lost, PostgreSQL says how it ended. */
  txid: string;
}

/** What the broker said about a batch: the jobs it refused (and why), and how many nobody heard. */
interface Verdict {
  refused: { id: string; topic: string; reason: string }[];
  unheard: number;
}

/** Every publish of every lane needs an MQTT packet id until its PUBACK; there are 65,535. */
const packetIds = 65_535;

function checkOptions(options: Options): void {
  const { consumerCount: count, consumerIndex: index } = options;
  if (
    (count !== undefined || index !== undefined) &&
    (count === undefined || index === undefined || index >= count)
  ) {
    throw new UsageError(
      '--consumer-count and --consumer-index go together, with the index from 0 to count − 1.',
    );
  }
  if (options.lanes * options.jobsPerRead > packetIds) {
    throw new UsageError(
      `--lanes ${options.lanes} × --jobs-per-read ${options.jobsPerRead} would keep ${(options.lanes * options.jobsPerRead).toLocaleString('en')} publishes awaiting their PUBACK, more than MQTT's ${packetIds.toLocaleString('en')} packet ids: lower one of them.`,
    );
  }
}

// Claim and mark in one statement: the rows stay locked until COMMIT, which comes only after every
// PUBACK. SKIP LOCKED makes another lane or publisher take the next rows instead of waiting.
function claimStatement(options: Options): { text: string; values: unknown[] } {
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

async function claim(db: Client, options: Options, tally: Tally): Promise<Job[]> {
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
async function publishBatch(mqtt: MqttClient, jobs: Job[], options: Options): Promise<Verdict> {
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

/** A batch whose COMMIT was sent but never answered: it may have committed, or not. */
interface Unanswered {
  txid: string;
  jobs: number;
  verdict: Verdict;
}

/**
 * A batch that failed: which service failed it (already one sentence), how many jobs it held, and,
 * when the connection went during its COMMIT, what is needed to ask PostgreSQL how it ended.
 */
class BatchFailed extends Error {
  constructor(
    readonly service: 'MQTT' | 'PostgreSQL',
    readonly error: CourseError,
    readonly jobs: number,
    readonly unanswered?: Unanswered,
  ) {
    super(error.message, { cause: error });
  }
}

interface Lane {
  number: number;
  db: Client;
  options: Options;
  link: MqttLink;
  tally: Tally;
  log: Log;
  signal: AbortSignal;
}

/** One claim → publish → commit. Anything failing rolls the whole batch back: its jobs stay due. */
async function transfer(lane: Lane, batchNumber: () => number): Promise<Job[]> {
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

function reportRefused(lane: Lane, refused: Verdict['refused']): void {
  if (refused.length === 0) return;
  const first = refused[0]!;
  lane.log.warn(
    ` [!] ${refused.length} jobs refused by the MQTT broker (job ${first.id} on '${first.topic}': ${first.reason}): set aside with the reason in jobs.failure; the rest of the batch is committed.`,
  );
}

function reportLate(lane: Lane, jobs: Job[]): void {
  const now = Date.now();
  const late = jobs.filter((job) => now - job.fire_ms > lane.options.lateAfter * 1000);
  if (late.length === 0) return;
  lane.tally.late += late.length;
  lane.log.warn(
    ` [!] ${late.length} jobs published more than ${lane.options.lateAfter} s late (the latest by ${((now - late[0]!.fire_ms) / 1000).toFixed(1)} s): published all the same, and counted.`,
  );
}

/** Opens a lane's own PostgreSQL connection. */
async function openLaneDatabase(options: Options, lane: number): Promise<Client> {
  const db = await openJobs({
    schema: options.schema,
    name: `lesson 06 publisher ${options.name} lane ${lane}`,
  });
  await db.query(`SET synchronous_commit = ${options.synchronousCommit === 'off' ? 'off' : 'on'}`);
  return db;
}

/** After a failed batch: reconnect what failed and go on, or give up with the failure's sentence. */
async function recover(lane: Lane, failure: BatchFailed): Promise<void> {
  const retryable =
    failure.service === 'MQTT'
      ? ['CLOSED_BY_BROKER', 'TIMEOUT', 'CONNECTION_REFUSED'].includes(failure.error.code)
      : connectionLost(failure.error.cause);
  if (lane.signal.aborted) return; // Ctrl+C, or another lane failed for good: the loop ends
  if (!retryable) throw failure.error;
  const why = failure.error.message.replace(/: .*$/, '');
  if (failure.unanswered) {
    lane.log.warn(
      ` [!] lane ${lane.number}: the connection went during the COMMIT of ${failure.jobs} jobs (${why}); reconnecting to PostgreSQL to ask whether it committed…`,
    );
  } else {
    lane.tally.rolledBack++;
    lane.log.warn(
      ` [!] lane ${lane.number}: batch of ${failure.jobs} jobs rolled back (they stay due): ${why}; reconnecting to ${failure.service}…`,
    );
  }
  try {
    if (failure.service === 'PostgreSQL') {
      await lane.db.end().catch(() => {});
      lane.db = await retryFor(
        lane.options.reconnectSeconds,
        lane.signal,
        () => openLaneDatabase(lane.options, lane.number),
        connectionLost,
      );
      if (failure.unanswered) await settleUnanswered(lane, failure.unanswered, why);
    } else {
      await lane.link.client(); // rejects with one sentence if the broker does not come back in time
    }
  } catch (error) {
    // Ctrl+C while reconnecting is a stop, not a give-up: the batch is rolled back, the loop ends.
    if (lane.signal.aborted) return;
    throw error;
  }
  lane.log.info(` [*] lane ${lane.number}: reconnected to ${failure.service}; carrying on.`);
}

/**
 * A COMMIT whose answer was lost may have committed: PostgreSQL knows (txid_status). Committed, its
 * jobs are processed and counted; else they stay due and go out again. Never counted twice, never
 * left out.
 */
async function settleUnanswered(lane: Lane, batch: Unanswered, why: string): Promise<void> {
  const status = await transactionStatus(lane.db, batch.txid, lane.signal);
  if (status === 'committed') {
    lane.tally.committed(batch.jobs, batch.verdict.unheard, batch.verdict.refused.length);
    reportRefused(lane, batch.verdict.refused);
    lane.log.info(
      ` [*] lane ${lane.number}: that COMMIT had reached PostgreSQL: the ${batch.jobs} jobs are processed, and counted.`,
    );
    return;
  }
  lane.tally.rolledBack++;
  lane.log.warn(` [!] lane ${lane.number}: batch of ${batch.jobs} jobs rolled back (they stay due): ${why}.`);
}

/** 'committed', 'aborted', or 'in progress' while the old backend has not yet noticed it lost us. */
async function transactionStatus(db: Client, txid: string, signal: AbortSignal): Promise<string> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ status: string | null }>('SELECT txid_status($1) AS status', [txid]);
    const status = rows[0]?.status ?? 'unknown';
    if (status !== 'in progress' || performance.now() > deadline || signal.aborted) return status;
    await sleep(50, undefined, { signal }).catch(() => {});
  }
}

/** A lane: claim → publish → commit, again and again, until idle, stopped, or failed for good. */
async function runLane(lane: Lane, batchNumber: () => number): Promise<void> {
  const { options, tally, signal } = lane;
  while (!signal.aborted && (options.maxReads === undefined || tally.reads < options.maxReads)) {
    tally.reads++; // counted before any await, so the lanes together never read more than --max-reads
    let jobs: Job[];
    try {
      jobs = await transfer(lane, batchNumber);
    } catch (error) {
      // A lane that waited for the reconnect another lane started: Ctrl+C then ends it quietly.
      if (!(error instanceof BatchFailed)) {
        if (signal.aborted) break;
        throw error;
      }
      await recover(lane, error);
      continue;
    }
    reportLate(lane, jobs);
    if (jobs.length === 0 && options.exitWhenIdle) break;
    // A full read means more are due: read again at once. Otherwise wait a little.
    if (jobs.length < options.jobsPerRead) await sleep(options.loopMs, undefined, { signal }).catch(() => {});
  }
}

export async function publish(options: Options, { log, signal }: RunContext): Promise<Tally> {
  checkOptions(options);
  const tally = new Tally();
  // One lane failing for good stops the others (after their batch commits or rolls back).
  const stop = new AbortController();
  const stopping = AbortSignal.any([signal, stop.signal]);
  const link = await MqttLink.open({
    clientId: `publisher-${options.name}-${process.pid}`,
    connectTimeoutSeconds: options.ackTimeout,
    reconnectSeconds: options.reconnectSeconds,
    signal: stopping,
  });
  const dbs: Client[] = [];
  try {
    for (let number = 1; number <= options.lanes; number++) dbs.push(await openLaneDatabase(options, number));
  } catch (error) {
    await Promise.all([link.close(), ...dbs.map((db) => db.end().catch(() => {}))]);
    throw error;
  }
  let batches = 0;
  const batchNumber = () => ++batches;
  const stopStatus = startStatusLine(log, options.name, tally, options.statusSeconds);
  log.info(
    ` [*] ${options.name} publishing due jobs (${options.jobsPerRead} per read, ${options.lanes} lane${options.lanes === 1 ? '' : 's'}${options.consumerCount !== undefined ? `, share ${options.consumerIndex} of ${options.consumerCount}` : ''}). To stop press CTRL+C`,
  );
  const lanes = dbs.map((db, i) => ({ number: i + 1, db, options, link, tally, log, signal: stopping }));
  const results = await Promise.allSettled(
    lanes.map(async (lane) => {
      try {
        await runLane(lane, batchNumber);
      } catch (error) {
        stop.abort();
        throw error;
      }
    }),
  );
  stopStatus();
  await Promise.all([link.close(), ...lanes.map((lane) => lane.db.end().catch(() => {}))]);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  log.success(summaryLine(options.name, tally));
  return tally;
}

runMain(import.meta, program, publish);
