// npm run check [-- NN …]: checks that what each lesson's README promises holds here, by running the
// lesson's own tests (not a second copy of them) plus a look at what the learner's programs will
// meet (their default queues, the services). Prints ✓/✗ with a hint for each ✗; records progress.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from 'amqplib';
import { chalkStderr as chalk } from 'chalk';
import { connectMqtt } from '../06-scheduled-jobs/mqtt.ts';
import { connectDatabase } from '../06-scheduled-jobs/postgres.ts';
import { workQueueArguments } from '../11-dead-letters/topology.ts';
import { connect } from '../shared/connection.ts';
import { CourseError } from '../shared/errors.ts';
import { isEntryPoint } from '../shared/program.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { checkProgress } from './check-progress.ts';
import { ClusterSession } from './cluster-session.ts';
import { lesson as findLesson, type Lesson, lessons } from './lessons.ts';
import { type LessonCheck, readProgress, recordProgress } from './progress.ts';

interface Result {
  name: string;
  ok: boolean;
  hint?: string;
}

/** The queues each lesson's programs declare by default (QUEUE overrides, as in the programs). */
const defaultQueues: Record<string, { queue: string; options: Options.AssertQueue; flag: string }[]> = {
  '01': [
    { queue: 'hello', options: { durable: true, arguments: { 'x-queue-type': 'quorum' } }, flag: '--queue' },
  ],
  '02': [
    {
      queue: 'task_queue',
      options: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
      flag: '--queue',
    },
  ],
  '03': [
    {
      queue: 'task_queue3',
      options: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
      flag: '--queue',
    },
  ],
  '05': [
    {
      queue: 'perf_queue',
      options: { durable: true, arguments: { 'x-queue-type': 'classic' } },
      flag: '--queue',
    },
  ],
  '09': ['tasks.quick', 'tasks.long'].map((queue) => ({
    queue,
    options: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
    flag: '--queue-prefix',
  })),
  '10': [
    {
      queue: 'rpc_queue',
      options: { durable: true, arguments: { 'x-queue-type': 'classic' } },
      flag: '--queue',
    },
  ],
  // The work queue as worker and new-task declare it (topology.ts): a leftover without its
  // dead-letter arguments is the 406 a learner meets first.
  '11': [
    {
      queue: 'dl_tasks',
      options: { durable: true, arguments: workQueueArguments('dl_tasks') },
      flag: '--queue',
    },
  ],
  // The streams as send and offset-tracking-send declare them: a queue of another type left over
  // under one of these names is what stops lesson 12.
  '12': ['hello-stream', 'stream-offset-tracking'].map((queue) => ({
    queue,
    options: { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-length-bytes': 5_000_000_000 } },
    flag: '--stream',
  })),
};

/** Turns a failure into the likely cause and where to read about it. */
export function hint(lesson: Lesson, failure: string): string {
  const readme = `${lesson.folder}/README.md`;
  if (/already exists with other settings|PRECONDITION.FAILED|inequivalent arg/.test(failure)) {
    const queue = /queue '([^']+)'/.exec(failure)?.[1];
    return `a queue${queue ? ` ('${queue}')` : ''} is left over with other arguments: delete it (rabbitmqctl delete_queue ${queue ?? '<name>'}, or the management UI) — ${readme}, Pitfalls`;
  }
  if (/RabbitMQ's stream protocol|5552/.test(failure))
    return "RabbitMQ's stream plugin does not answer: npm run services enables it (port 5552)";
  if (/Could not connect to RabbitMQ|ECONNREFUSED.*5672|connection refused\).*RabbitMQ/.test(failure))
    return 'RabbitMQ is not running: npm run services';
  if (/management API|15672/.test(failure))
    return 'the RabbitMQ management API does not answer: npm run services enables the plugin';
  if (/PostgreSQL|5432/.test(failure))
    return 'PostgreSQL is not reachable: npm run services, or check DATABASE_URL';
  if (/MQTT|1883/.test(failure)) return 'Mosquitto is not reachable: npm run services, or check MQTT_URL';
  if (/Chromium/.test(failure)) return 'Chromium is missing: npm run services installs it (as root)';
  if (/refused the login|ACCESS_REFUSED/.test(failure))
    return 'wrong credentials in AMQP_URL (guest only works from localhost) — README.md, Troubleshooting';
  if (/Exceeded timeout|timed out/.test(failure)) {
    return `it took too long: is the machine very busy, or is a program from another terminal consuming the same queue? — ${readme}`;
  }
  return `see ${readme}, and run npm test -- ${lesson.folder} for the full output`;
}

async function preflight(lesson: Lesson): Promise<Result[]> {
  const results: Result[] = [];
  for (const { queue: fallback, options } of defaultQueues[lesson.number] ?? []) {
    const queue = process.env.QUEUE || fallback;
    const name = `the queue '${queue}' that the programs use can be declared as they declare it`;
    try {
      const connection = await connect();
      try {
        // A queue that is not there cannot be in the way; declaring it here would leave one behind
        // (with settings a later lesson version may not share). One that is there must match.
        const probe = await connection.channel();
        const exists = await probe.checkQueue(queue).then(
          () => true,
          () => false, // 404: the broker closed the probe's channel
        );
        if (exists) await (await connection.channel()).assertQueue(queue, options);
        results.push({ name, ok: true });
      } finally {
        await connection.close();
      }
    } catch (error) {
      results.push({ name, ok: false, hint: hint(lesson, (error as Error).message) });
    }
  }
  if (lesson.number === '06') {
    for (const [name, reach] of [
      ['PostgreSQL answers at DATABASE_URL', async () => (await connectDatabase()).end()],
      ['Mosquitto answers at MQTT_URL', async () => (await connectMqtt()).endAsync()],
    ] as const) {
      try {
        await reach();
        results.push({ name, ok: true });
      } catch (error) {
        results.push({ name, ok: false, hint: hint(lesson, (error as Error).message) });
      }
    }
  }
  return results;
}

interface JestJson {
  testResults: {
    assertionResults: { title: string; status: string; failureMessages: string[] }[];
    message: string;
  }[];
}

/** Runs the lesson's own tests (not the broker-restart ones) and returns one result per test. */
async function lessonTests(lesson: Lesson): Promise<Result[]> {
  // Jest's report goes into the repo's git-ignored .course/ folder, never outside the course.
  const folder = join(repoRoot, '.course', 'jest');
  mkdirSync(folder, { recursive: true });
  const output = join(folder, `check-${lesson.number}-${process.pid}.json`);
  const jest = join(repoRoot, 'node_modules/jest/bin/jest.js');
  // Lesson 07's tests start their own three-node cluster and kill its nodes: they are a project of
  // their own (every *.cluster.test.ts, lesson 05's leader drill too), one file at a time, as
  // npm run test:cluster runs them: each file's beforeAll starts the cluster, so two must not race.
  const json = ['--json', '--outputFile', output, '--silent'];
  const args =
    lesson.number === '07'
      ? // The cluster tool's own drill (scripts/cluster.cluster.test.ts) is not the lesson's.
        [
          '--testPathIgnorePatterns',
          '/scripts/[^/]*\\.cluster\\.test\\.ts$',
          ...json,
          '--runInBand',
          '--selectProjects',
          'cluster',
        ]
      : ['--selectProjects', 'lessons', ...json, lesson.folder];
  const options = {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules --no-warnings' },
    stdio: 'ignore',
  } as const;
  if (lesson.number === '07') {
    // A session of its own: a cluster that was down is stopped after, also on Ctrl-C or SIGTERM.
    const session = await ClusterSession.open();
    try {
      await session.run(process.execPath, [jest, ...args], options);
    } finally {
      await session.close();
    }
  } else {
    // Not spawnSync: the progress bar's clock must keep ticking while the tests run.
    await new Promise<void>((resolve) => {
      spawn(process.execPath, [jest, ...args], options)
        .on('error', () => resolve()) // no report then: 'the lesson’s tests ran' fails below
        .on('close', () => resolve());
    });
  }
  let report: JestJson;
  try {
    report = JSON.parse(readFileSync(output, 'utf8')) as JestJson;
  } catch {
    return [
      {
        name: 'the lesson’s tests ran',
        ok: false,
        hint: `they did not run at all: try npm test -- ${lesson.folder}`,
      },
    ];
  } finally {
    rmSync(output, { force: true });
  }
  const results: Result[] = [];
  for (const file of report.testResults) {
    if (file.assertionResults.length === 0 && file.message) {
      results.push({ name: 'the lesson’s tests ran', ok: false, hint: hint(lesson, file.message) });
    }
    for (const test of file.assertionResults) {
      const ok = test.status === 'passed';
      results.push({
        name: test.title,
        ok,
        ...(ok ? {} : { hint: hint(lesson, test.failureMessages.join('\n')) }),
      });
    }
  }
  return results;
}

export async function check(
  numbers: string[],
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<Record<string, LessonCheck>> {
  const chosen = numbers.length ? numbers.map((n) => findLesson(n) ?? n) : lessons();
  // Refused before any lesson runs: a typo should not cost the minutes of the lessons before it.
  const unknown = chosen.find((lesson) => typeof lesson === 'string');
  if (unknown !== undefined)
    throw new CourseError(
      `There is no lesson ${unknown}: choose from 01 to ${lessons().at(-1)?.number ?? '01'}.`,
      {
        code: 'USAGE',
        exitCode: 2,
      },
    );
  const known = chosen.filter((lesson): lesson is Lesson => typeof lesson !== 'string');
  const last = readProgress();
  const progress = checkProgress(known, say, {
    lastSeconds: Object.fromEntries(Object.entries(last).map(([n, c]) => [n, c.seconds])),
  });
  const all: Record<string, LessonCheck> = {};
  for (const lesson of known) {
    say(chalk.bold(`Lesson ${lesson.number} — ${lesson.title.replace(/^Lesson \d+ — /, '')}`));
    const began = Date.now();
    progress.started(lesson);
    const results = [...(await preflight(lesson)), ...(await lessonTests(lesson))];
    const failed = results.filter((r) => !r.ok).length;
    const ended = progress.ended(lesson, failed, results.length);
    for (const result of results) {
      say(
        result.ok
          ? `  ${chalk.green('✓')} ${result.name}`
          : `  ${chalk.red('✗')} ${result.name}\n      ${chalk.yellow('hint:')} ${result.hint}`,
      );
    }
    const record: LessonCheck = {
      ok: failed === 0,
      passed: results.length - failed,
      failed,
      at: new Date().toISOString(),
      seconds: Math.round((Date.now() - began) / 1000),
      results,
    };
    recordProgress(lesson.number, record);
    all[lesson.number] = record;
    say(
      failed
        ? chalk.red(`  ${failed} of ${results.length} failed.`)
        : chalk.green(`  All ${results.length} passed.`),
    );
    say(ended);
  }
  return all;
}

const usage = `Usage: npm run check [-- NN …]
Checks that what each lesson's README promises holds here: ✓ or ✗ with a hint, saved as progress.
  npm run check              every lesson (lesson 07 starts its own three-node cluster)
  npm run check -- 01        one lesson
  npm run check -- 02 03     several (02,03 works too)
`;

/** The lesson numbers asked for ('02 03' or '02,03'), or 'help'; anything else is refused. */
function lessonArgs(argv: string[]): string[] | 'help' {
  if (argv.some((arg) => arg === '--help' || arg === '-h')) return 'help';
  const numbers = argv.flatMap((arg) => arg.split(',')).filter(Boolean);
  const bad = numbers.find((arg) => !/^\d+$/.test(arg));
  if (bad !== undefined)
    throw new CourseError(
      `'${bad}' is not a lesson number: run npm run check -- 01 (or 02 03; nothing after -- checks every lesson).`,
      { code: 'USAGE', exitCode: 2 },
    );
  return numbers;
}

if (isEntryPoint(import.meta)) {
  try {
    const numbers = lessonArgs(process.argv.slice(2));
    if (numbers === 'help') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const results = await check(numbers);
    const passed = Object.values(results).reduce((sum, r) => sum + r.passed, 0);
    const failed = Object.values(results).reduce((sum, r) => sum + r.failed, 0);
    process.stderr.write(`\n${passed} passed, ${failed} failed\n`);
    process.exitCode = failed ? 1 : 0;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = (error as CourseError).exitCode ?? 1;
  }
}
