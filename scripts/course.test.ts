// The course around the lessons: the menu, the checks and their hints, the hand-in, the screenshots.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { withTimeout } from '../shared/errors.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { Running, runProgram, testConnection, uniqueName } from '../test/testing.ts';
import { lessons } from './lessons.ts';
import { cell, paneSize, pngSize, renderPanes } from './terminal-render.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'course-'));
let rabbit: Awaited<ReturnType<typeof testConnection>>;
beforeAll(async () => {
  rabbit = await testConnection();
});
afterAll(() => rabbit.close());

describe('the course menu', () => {
  test('without a terminal it lists every lesson folder with progress, Part II where lesson 08 begins, and exits 0; a check’s result shows in it', async () => {
    const progress = join(scratch(), 'progress.json');
    const before = await runProgram('scripts/course', [], { COURSE_PROGRESS_FILE: progress });
    expect(before.code).toBe(0);
    const lines = before.stdout.split('\n').filter((line) => /^\S \d\d /.test(line));
    expect(lines).toHaveLength(lessons().length);
    expect(before.stdout).toMatch(/^Part II: you can take lessons 08 and up after lesson 02\n• 08 /m);
    expect(lines.every((line) => line.startsWith('•'))).toBe(true);

    // Its own name for lesson 01's queue: the preflight then judges no queue a learner left behind.
    const checked = await runProgram('scripts/check', ['01'], {
      QUEUE: uniqueName('course-hello'),
      COURSE_PROGRESS_FILE: progress,
    });
    expect(checked.code).toBe(0);
    const after = await runProgram('scripts/course', [], { COURSE_PROGRESS_FILE: progress });
    expect(after.stdout).toMatch(
      /^✓ 01 {2}Lesson 01 — Hello world \(checked \d{4}-\d\d-\d\d: \d+ passed\)$/m,
    );
    expect(after.stdout).toMatch(/^• 02 /m);
  });
});

describe('npm run check', () => {
  test('on a terminal with no desktop, "Open the README" says where to read it instead of failing silently', async () => {
    // A real terminal (a pty from `script`): Enter picks lesson 01, two downs reach "Open the README".
    const child = spawn(
      'script',
      ['-qfec', `${process.execPath} --import tsx scripts/course.ts`, '/dev/null'],
      {
        cwd: repoRoot,
        env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', DISPLAY: '', WAYLAND_DISPLAY: '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const menu = new Running(child);
    try {
      await menu.waitFor(/Which lesson\?/);
      child.stdin?.write('\r');
      await menu.waitFor(/Open the README/);
      child.stdin?.write('\x1b[B\x1b[B\r');
      await withTimeout(
        menu.waitFor(/No desktop viewer here|Opened/),
        30_000,
        'an answer to Open the README',
      );
      child.stdin?.write('\x03');
      await menu.exited;
    } finally {
      menu.kill('SIGKILL');
    }
    expect(menu.stdout).toContain('No desktop viewer here: read 01-hello-world/README.md in your editor');
  });

  test('--help prints the usage and checks nothing; a word that is not a lesson number is refused', async () => {
    const progress = join(scratch(), 'p.json');
    const help = await runProgram('scripts/check', ['--help'], { COURSE_PROGRESS_FILE: progress });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run check/);
    expect(help.stderr).not.toMatch(/Lesson \d\d/);
    const bad = await runProgram('scripts/check', ['01,two'], { COURSE_PROGRESS_FILE: progress });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      "'two' is not a lesson number: run npm run check -- 01 (or 02 03; nothing after -- checks every lesson).",
    );
    expect(existsSync(progress)).toBe(false);
  });

  test('a lesson whose behaviour holds passes, ✓ for each promise', async () => {
    const exit = await runProgram('scripts/check', ['01'], {
      QUEUE: uniqueName('course-hello'),
      COURSE_PROGRESS_FILE: join(scratch(), 'p.json'),
    });
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('✓ a message sent is received exactly once, unchanged');
    expect(exit.stderr).toMatch(/^\d+ passed, 0 failed$/m);
  });

  test('a broken setup (the lesson’s queue pre-declared with other arguments) fails with the hint that names it', async () => {
    const queue = rabbit.own(uniqueName('task_queue'));
    await rabbit.channel.assertQueue(queue, { durable: false }); // lesson 02 declares it durable
    const progress = join(scratch(), 'p.json');
    const exit = await runProgram('scripts/check', ['02'], { QUEUE: queue, COURSE_PROGRESS_FILE: progress });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(
      `✗ the queue '${queue}' that the programs use can be declared as they declare it`,
    );
    expect(exit.stderr).toContain(
      `hint: a queue ('${queue}') is left over with other arguments: delete it (rabbitmqctl delete_queue ${queue}`,
    );
    expect(JSON.parse(readFileSync(progress, 'utf8'))['02'].ok).toBe(false);
  });
});

describe('npm run submit', () => {
  test('an archive with SUBMISSION.md, results and logs, and no secrets: no .env, no password from a URL', async () => {
    const from = scratch();
    mkdirSync(join(from, 'logs'));
    mkdirSync(join(from, 'results', 'reference'), { recursive: true });
    writeFileSync(join(from, '.env'), 'AMQP_PASSWORD=hunter2\n');
    writeFileSync(join(from, 'logs', '.env'), 'AMQP_PASSWORD=hunter2\n');
    writeFileSync(join(from, 'logs', 'worker-A.log'), 'a log line\n');
    writeFileSync(join(from, 'results', 'reference', 'summary.csv'), 'measure,count\n');
    writeFileSync(
      join(from, 'results', 'summary.md'),
      '| configuration | messages |\n|---|---|\n| reference | 1000 |\n',
    );
    writeFileSync(join(from, 'results', 'huge.csv'), Buffer.alloc(2 * 2 ** 20, 'x'));
    const out = join(from, 'out');
    const exit = await runProgram(
      'scripts/submit',
      ['--name', 'Ada Lovelace', '--lessons', '01', '--from', from, '--out', out, '--max-file-mb', '1'],
      {
        DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:5432/postgres',
        QUEUE: uniqueName('course-hello'),
        COURSE_PROGRESS_FILE: join(from, 'p.json'),
      },
    );
    expect(exit.code).toBe(0);
    const [archive] = readdirSync(out);
    expect(archive).toMatch(/^ada-lovelace-\d{4}-\d\d-\d\d\.tar\.gz$/);
    const listing = execFileSync('tar', ['-tzf', join(out, archive!)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect(listing).toEqual(
      expect.arrayContaining([
        './SUBMISSION.md',
        './logs/worker-A.log',
        './results/reference/summary.csv',
        './results/summary.md',
      ]),
    );
    expect(listing.filter((path) => /\.env|huge|node_modules/.test(path))).toEqual([]);
    const unpacked = scratch();
    execFileSync('tar', ['-xzf', join(out, archive!), '-C', unpacked]);
    const everything = execFileSync(
      'cat',
      ['-v', ...listing.filter((p) => !p.endsWith('/')).map((p) => join(unpacked, p))],
      { encoding: 'utf8' },
    );
    expect(everything).not.toContain('hunter2');
    const submission = readFileSync(join(unpacked, 'SUBMISSION.md'), 'utf8');
    expect(submission).toContain('# Submission: Ada Lovelace');
    expect(submission).toMatch(/RabbitMQ {5}\d+\.\d+\.\d+ \(Erlang/);
    expect(submission).toContain('postgres://postgres:***@127.0.0.1:5432/postgres');
    expect(submission).toMatch(/\| 01 \| ✓ \| \d+ \| 0 \|/);
    expect(submission).toContain('| reference | 1000 |');
    expect(exit.stderr).toMatch(/left out results\/huge\.csv \(2\.0 MB, over the 1 MB limit\)/);
  });

  test('without a name it says how to give one', async () => {
    const exit = await runProgram('scripts/submit', []);
    expect(exit.code).toBe(2);
    expect(exit.stderr.trim()).toBe('Give your name: npm run submit -- --name "Your Name".');
  });
});

describe('npm run about', () => {
  test('the environment record as JSON, with versions from the live services and passwords masked', async () => {
    const exit = await runProgram('scripts/about', ['--json'], {
      DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:5432/postgres',
    });
    expect(exit.code).toBe(0);
    const record = JSON.parse(exit.stdout);
    expect(record).toMatchObject({ cpu: { count: expect.any(Number) }, node: process.version });
    expect(record.rabbitmq.version).toMatch(/^\d+\.\d+/);
    expect(record.postgresql.url).toBe('postgres://postgres:***@127.0.0.1:5432/postgres');
    expect(record.mosquitto.version).toMatch(/mosquitto version/);
    expect(exit.stdout).not.toContain('hunter2');
  });
});

describe('the screenshot pipeline', () => {
  test('a small known terminal capture renders to a PNG of the expected size', async () => {
    const file = join(scratch(), 'panes.png');
    const panes = [
      { title: 'terminal 1', text: ' [*] Waiting for messages\n \x1b[32m[✓] done\x1b[39m\n' },
      { title: 'terminal 2', text: ' [x] Sent \x1b[1mHello\x1b[22m\n' },
    ];
    const size = await renderPanes(panes, 40, 5, file, 2);
    const one = paneSize(40, 5);
    const expected = { width: 2 * one.width + cell.gap, height: one.height };
    expect(size).toEqual(expected);
    expect(pngSize(readFileSync(file))).toEqual(expected);
  });
});
