// Publisher: claims due jobs with FOR UPDATE SKIP LOCKED, publishes each to MQTT, and marks them
// processed in the same transaction, committed only after the broker's PUBACKs. Several lanes
// (claim → publish → commit, each on its own PostgreSQL connection) keep batches in flight, so a
// slow PUBACK never stalls the next claim. Run as many publishers side by side as you like: none
// blocks another, and no job is claimed by two. One batch's transaction is claim-publish-commit.ts;
// a COMMIT whose answer was lost is settled by lost-commit.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { BatchFailed, type Lane as BatchLane, type Job, transfer } from './claim-publish-commit.ts';
import { databaseFlags, openJobs } from './jobs.ts';
import { settleUnanswered } from './lost-commit.ts';
import { MqttLink } from './mqtt.ts';
import { mqttBroker } from './mqtt-errors.ts';
import type { Client } from './postgres.ts';
import { connectionLost, postgres } from './postgres-errors.ts';
import { startStatusLine, summaryLine, Tally } from './publisher-status.ts';
import { retryFor } from './retry.ts';

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

/** A lane as the loop below sees it: a batch's lane, with all of the publisher's flags. */
interface Lane extends BatchLane {
  options: Options;
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

runMain(import.meta, program, publish, [postgres, mqttBroker]);
