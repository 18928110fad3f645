// Publisher: claims due jobs with FOR UPDATE SKIP LOCKED, publishes each to MQTT, and marks them
// processed in the same transaction. Run as many side by side as you like: none blocks another,
// and no job is claimed by two.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { CourseError, explain, UsageError } from '../shared/errors.ts';
import { connectMqtt, type MqttClient } from '../shared/mqtt.ts';
import { databaseFlags, openJobs } from './jobs.ts';

export const program = defineProgram({
  name: 'publisher',
  summary: 'Publish due jobs from PostgreSQL to MQTT, each exactly when due, safely beside other publishers.',
  flags: {
    jobsPerRead: {
      type: 'integer',
      min: 1,
      max: 100_000,
      default: 100,
      description: 'jobs claimed per read',
    },
    loopMs: {
      type: 'integer',
      min: 0,
      default: 50,
      description: 'milliseconds to wait after a read that was not full',
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
      description: 'MQTT QoS (1: the broker acknowledges each job)',
    },
    maxInFlight: {
      type: 'integer',
      min: 1,
      default: 1000,
      description: 'MQTT publishes awaiting their acknowledgement at once',
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
    name: {
      type: 'string',
      default: `P${process.pid}`,
      description: 'this instance’s name, stored with each job it publishes',
    },
    ...databaseFlags,
  },
  examples: [
    'npm run lesson:06 -- publisher',
    'npm run lesson:06 -- publisher --jobs-per-read 1000 --exit-when-idle',
  ],
});

type Options = Values<typeof program.flags>;

interface Job {
  id: string;
  topic: string;
  payload: string;
  fire_ms: number;
}

export interface PublisherSummary {
  published: number;
  late: number;
  reads: number;
  /** Jobs per minute from the first claim to the last commit. */
  perMinute: number;
}

/** Publishes every job, at most `lanes` awaiting their PUBACK at once (mqtt.js has no limit of its own). */
async function publishAll(mqtt: MqttClient, jobs: Job[], qos: 0 | 1 | 2, lanes: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      // The job id travels as an MQTT 5 user property, so subscribers can drop a duplicate.
      await mqtt.publishAsync(job.topic, job.payload, {
        qos,
        properties: { userProperties: { 'job-id': job.id, 'fire-at': String(job.fire_ms) } },
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, jobs.length) }, lane));
}

export async function publish(options: Options, { log, signal }: RunContext): Promise<PublisherSummary> {
  const partitioned = options.consumerCount !== undefined || options.consumerIndex !== undefined;
  if (
    partitioned &&
    (options.consumerCount === undefined ||
      options.consumerIndex === undefined ||
      options.consumerIndex >= options.consumerCount)
  ) {
    throw new UsageError(
      '--consumer-count and --consumer-index go together, with the index from 0 to count − 1.',
    );
  }
  const db = await openJobs({ schema: options.schema, name: `lesson 06 publisher ${options.name}` });
  await db.query(`SET synchronous_commit = ${options.synchronousCommit === 'off' ? 'off' : 'on'}`);
  let mqtt: MqttClient;
  try {
    mqtt = await connectMqtt({ clientId: `publisher-${options.name}-${process.pid}` });
  } catch (error) {
    await db.end();
    throw error;
  }
  // The broker going away mid-batch must fail the batch (and roll it back), not leave it waiting.
  const mqttLost = new Promise<never>((_, reject) => {
    mqtt.once('close', () => {
      const sentence =
        'The MQTT broker closed the connection: the batch was rolled back, so its jobs stay unprocessed; restart the broker (npm run services) and the publisher.';
      reject(new CourseError(sentence, { code: 'CLOSED_BY_BROKER' }));
    });
  });
  mqttLost.catch(() => {});

  // Claim and mark in one statement: the rows stay locked until COMMIT, which comes only after
  // every PUBACK. SKIP LOCKED makes another publisher take the next rows instead of waiting.
  const claim = `UPDATE jobs SET processed = true, processed_at = now(), published_by = $2
    WHERE id IN (
      SELECT id FROM jobs
      WHERE NOT processed AND fire_at <= now()${partitioned ? ' AND id % $3 = $4' : ''}
      ORDER BY fire_at
      LIMIT $1
      FOR UPDATE SKIP LOCKED)
    RETURNING id, topic, payload, extract(epoch FROM fire_at) * 1000 AS fire_ms`;
  const params = [
    options.jobsPerRead,
    options.name,
    ...(partitioned ? [options.consumerCount, options.consumerIndex] : []),
  ];

  let published = 0;
  let late = 0;
  let reads = 0;
  let first = 0;
  let last = 0;
  let periodJobs = 0;
  let cpu = process.cpuUsage();
  let periodStart = performance.now();
  const ticker = setInterval(() => {
    const elapsed = (performance.now() - periodStart) / 1000;
    const used = process.cpuUsage(cpu);
    log.info(
      ` [>] ${options.name}: ${published} jobs published (${Math.round((periodJobs / elapsed) * 60).toLocaleString('en')} jobs/min), ${late} late, ${reads} reads, CPU ${Math.round(((used.user + used.system) / 1e6 / elapsed) * 100)}%, RSS ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MB`,
    );
    cpu = process.cpuUsage();
    periodStart = performance.now();
    periodJobs = 0;
  }, options.statusSeconds * 1000);

  log.info(
    ` [*] ${options.name} publishing due jobs (${options.jobsPerRead} per read${partitioned ? `, share ${options.consumerIndex} of ${options.consumerCount}` : ''}). To stop press CTRL+C`,
  );
  try {
    while (!signal.aborted && (options.maxReads === undefined || reads < options.maxReads)) {
      await db.query('BEGIN');
      let jobs: Job[];
      try {
        jobs = (await db.query<Job>(claim, params)).rows.sort((a, b) => a.fire_ms - b.fire_ms);
        reads++;
        if (jobs.length) {
          first ||= performance.now();
          await Promise.race([
            publishAll(mqtt, jobs, options.qos as 0 | 1 | 2, options.maxInFlight),
            mqttLost,
          ]);
        }
        // Only now, with every job acknowledged by the broker, do they count as processed.
        await db.query('COMMIT');
      } catch (error) {
        await db.query('ROLLBACK').catch(() => {});
        throw error;
      }
      if (jobs.length) {
        last = performance.now();
        published += jobs.length;
        periodJobs += jobs.length;
        const now = Date.now();
        const lateOnes = jobs.filter((job) => now - job.fire_ms > options.lateAfter * 1000);
        if (lateOnes.length) {
          late += lateOnes.length;
          log.warn(
            ` [!] ${lateOnes.length} jobs published more than ${options.lateAfter} s late (the latest by ${((now - lateOnes[0]!.fire_ms) / 1000).toFixed(1)} s): published all the same, and counted.`,
          );
        }
      }
      if (jobs.length === 0 && options.exitWhenIdle) break;
      // A full read means more are due: read again at once. Otherwise wait a little.
      if (jobs.length < options.jobsPerRead)
        await sleep(options.loopMs, undefined, { signal }).catch(() => {});
    }
  } catch (error) {
    throw explain(error, { service: error instanceof CourseError ? 'the MQTT broker' : 'PostgreSQL' });
  } finally {
    clearInterval(ticker);
    await mqtt.endAsync().catch(() => {});
    await db.end().catch(() => {});
  }
  const perMinute = last > first ? (published / ((last - first) / 1000)) * 60 : 0;
  log.success(
    ` [✓] ${options.name}: ${published} jobs published in ${reads} reads = ${Math.round(perMinute)} jobs/min; ${late} late.`,
  );
  return { published, late, reads, perMinute };
}

runMain(import.meta, program, publish);
