// Lesson 03's promises: three listening workers share the CSV's tasks fairly; bad files are refused whole.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { queuesPage } from '../shared/prompts.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { blocks } from '../test/readme.ts';
import {
  eventually,
  expectOneSentence,
  queueInfo,
  Running,
  runProgram,
  start,
  uniqueName,
  useTestConnection,
  waitForTotal,
} from '../test/testing.ts';

const rabbit = useTestConnection();

async function queueExists(queue: string): Promise<boolean> {
  const channel = await rabbit.connection.createChannel();
  channel.on('error', () => {});
  try {
    await channel.checkQueue(queue);
    await channel.close();
    return true;
  } catch {
    return false;
  }
}

function csv(name: string, text: string): string {
  const file = join(tmpdir(), `${uniqueName(name)}.csv`);
  writeFileSync(file, text);
  return file;
}

const rowsDone = (worker: Running) =>
  worker.matching(/ done #\d+/).map((line) => Number(/#(\d+)/.exec(line)?.[1]));

describe('three listening workers and one emitter', () => {
  test('every row of data/tasks.csv is processed exactly once, by all three, and the worker with the long task does fewer', async () => {
    const queue = rabbit.own(uniqueName('task_queue3'));
    const workers = ['A', 'B', 'C'].map((name) =>
      start('03-multiple-consumers/listening-worker', [
        '--queue',
        queue,
        '--name',
        name,
        '--seconds-per-dot',
        '0.05',
      ]),
    );
    await Promise.all(workers.map((w) => w.waitFor(/listening on/)));
    const emitter = await runProgram('03-multiple-consumers/emitter-of-tasks', ['--queue', queue]);
    expect(emitter.code).toBe(0);
    expect(emitter.stderr).toMatch(/Sent 20 rows from data\/tasks\.csv .* RabbitMQ confirmed them all/);
    expect(emitter.stderr).not.toMatch(/monitor RabbitMQ/); // no terminal, no prompt

    await waitForTotal(workers, / done #\d+/, 20);
    for (const w of workers) w.kill('SIGINT');
    const exits = await Promise.all(workers.map((w) => w.exited));
    expect(exits.map((e) => e.code)).toEqual([130, 130, 130]);
    expect(exits.every((e) => e.stderr.includes('Closing connection. Goodbye.'))).toBe(true);

    const rows = workers.map(rowsDone);
    expect(rows.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const mine of rows) expect(mine.length).toBeGreaterThanOrEqual(1);
    // Row 3 is the 20-dot task: fair dispatch gives its worker fewer rows than each of the others.
    const longIndex = rows.findIndex((mine) => mine.includes(3));
    const others = rows.filter((_, i) => i !== longIndex);
    for (const theirs of others) expect(rows[longIndex]!.length).toBeLessThan(theirs.length);
  });
});

describe('what the broker counts while three workers share the queue', () => {
  test("the README's list_queues figures: 3 consumers, 3 unacked (prefetch 1 each), the rest ready", async () => {
    // The README's block is a run on the learner's broker (rabbitmqctl cannot reach the README
    // test's private node): the same situation here, read from the management API.
    const shown = blocks(join(import.meta.dirname, 'README.md')).outputs.find((block) =>
      block.body.some((line) => line.startsWith('task_queue3\t')),
    );
    const [ready, unacked, consumers] = (shown?.body.find((line) => line.startsWith('task_queue3\t')) ?? '')
      .split('\t')
      .slice(1)
      .map(Number);
    const queue = rabbit.own(uniqueName('task_queue3'));
    // 10 s per dot: no worker finishes its first row (2 dots or more) while we look.
    const workers = ['A', 'B', 'C'].map((name) =>
      start('03-multiple-consumers/listening-worker', [
        '--queue',
        queue,
        '--name',
        name,
        '--seconds-per-dot',
        '10',
      ]),
    );
    try {
      await Promise.all(workers.map((w) => w.waitFor(/listening on/)));
      expect((await runProgram('03-multiple-consumers/emitter-of-tasks', ['--queue', queue])).code).toBe(0);
      await waitForTotal(workers, / received #\d+/, 3);
      // The figures are samples (every 5 s), and the consumer count comes by another path than
      // the message counts (RabbitMQ 4 has shown 20 messages with 0 consumers in one sample):
      // wait for the first sample that shows the rows and has counted any consumer at all.
      const info = await eventually(async () => {
        const figures = await queueInfo(queue);
        return figures.messages === 20 && Number(figures.consumers ?? 0) > 0 ? figures : undefined;
      }, `${queue}'s figures in the management API`);
      expect({ unacked: info.messages_unacknowledged, consumers: info.consumers }).toEqual({
        unacked,
        consumers,
      });
      expect(info.messages_ready).toBe(20 - 3);
      // The README's run had acked 5 rows already: ready + unacked + 5 done = the 20 rows.
      expect((ready ?? 0) + (unacked ?? 0) + 5).toBe(20);
    } finally {
      for (const w of workers) w.kill('SIGINT');
      await Promise.all(workers.map((w) => w.exited));
    }
  }, 60_000);
});

describe('bad task files are refused before anything is sent', () => {
  test.each([
    [
      'a file that does not exist',
      () => join(tmpdir(), 'no-such-tasks.csv'),
      /does not exist: check the --file path/,
    ],
    ['a folder', () => tmpdir(), /is a folder, not a CSV file/],
    ['an empty file', () => csv('empty', ''), /has no tasks/],
    [
      'an unbalanced quote',
      () => csv('quote', 'Feed the cat,.\nWater the plants,..\n"Call the bank,...\n'),
      /line \d+ is not valid CSV \(a quote opens a field and is never closed\)/,
    ],
    [
      'ragged rows',
      () => csv('ragged', 'Feed the cat,.\nWater the plants,..,extra\nCall the bank,...\n'),
      /line 2 is not valid CSV \(this row has a different number of fields/,
    ],
  ])('%s', async (_, file, pattern) => {
    const queue = rabbit.own(uniqueName('bad-csv'));
    const exit = await runProgram('03-multiple-consumers/emitter-of-tasks', [
      '--queue',
      queue,
      '--file',
      file(),
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(await queueExists(queue)).toBe(false); // not even declared: nothing sent
  });

  test('a row too large for a message', async () => {
    const queue = rabbit.own(uniqueName('big-row'));
    const file = csv('big', `Feed the cat,.\nWrite ${'a very long story '.repeat(10)},..\n`);
    const exit = await runProgram('03-multiple-consumers/emitter-of-tasks', [
      '--queue',
      queue,
      '--file',
      file,
      '--max-row-bytes',
      '100',
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/row 2 \(line 2\) is \d+ bytes, more than the 100 a task may have/);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(await queueExists(queue)).toBe(false);
  });
});

describe('the admin-panel prompt', () => {
  test('--admin on a machine with no desktop says so and gives the URL, then sends', async () => {
    const queue = rabbit.own(uniqueName('admin'));
    const exit = await runProgram(
      '03-multiple-consumers/emitter-of-tasks',
      ['--queue', queue, '--file', 'data/tasks-short.csv', '--admin'],
      { DISPLAY: '', WAYLAND_DISPLAY: '' },
    );
    expect(exit.code).toBe(0);
    expect(queuesPage()).toMatch(/^http:\/\/[^@]+:\d+\/#\/queues$/);
    expect(exit.stderr).toContain(
      `No browser here (no desktop, or none would start): visit ${queuesPage()} yourself`,
    );
    expect(exit.stderr).not.toContain('Opened');
    expect(exit.stderr).toMatch(/Sent 6 rows/);
  });

  test('on a terminal --no-admin never asks', async () => {
    const queue = rabbit.own(uniqueName('no-admin'));
    const command = `${process.execPath} --import tsx 03-multiple-consumers/emitter-of-tasks.ts --queue ${queue} --file data/tasks-short.csv --no-admin`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exit = await new Running(child).exited;
    expect(exit.code).toBe(0);
    expect(exit.stdout).not.toContain('monitor RabbitMQ');
    expect(exit.stdout).toContain('Sent 6 rows');
  });

  test('Ctrl+C at the prompt exits 130 and sends nothing', async () => {
    const queue = rabbit.own(uniqueName('prompt-ctrl-c'));
    // A real terminal (a pty from `script`), so the prompt appears; then the learner presses Ctrl+C.
    const command = `${process.execPath} --import tsx 03-multiple-consumers/emitter-of-tasks.ts --queue ${queue} --file data/tasks-short.csv`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const program = new Running(child);
    await program.waitFor(/monitor RabbitMQ queues/);
    child.stdin?.write('\x03');
    const exit = await program.exited;
    expect(exit.code).toBe(130);
    expect(exit.stdout).toContain('Interrupted at the prompt: nothing was sent.');
    expect(await queueExists(queue)).toBe(false);
  });
});
