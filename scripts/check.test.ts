// npm run check without a terminal (CI, a pipe, this test) says each lesson's start and end in plain
// lines, with its time and what is left, and keeps the time for the next run's estimate.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@jest/globals';
import { runProgram } from '../test/testing.ts';

test('a check of lesson 03 says when it starts, how long it took and that nothing is left', async () => {
  // Its own progress file: the learner's record of their checks is not this test's to change.
  const progressFile = join(mkdtempSync(join(tmpdir(), 'check-progress-')), 'progress.json');
  const exit = await runProgram('scripts/check', ['03'], { COURSE_PROGRESS_FILE: progressFile });
  expect(exit.code).toBe(0);
  const lines = exit.stderr.split('\n');
  const time = String.raw`\d+ s|\d+ min(?: \d+ s)?`;
  const header = lines.indexOf('Lesson 03 — Multiple consumers');
  const started = lines.findIndex((line) => /^ {2}\[1\/1\] lesson 03 started \(about .+\)$/.test(line));
  const ended = lines.findIndex((line) =>
    new RegExp(`^ {2}\\[1/1\\] lesson 03 passed in (${time}); none left \\((${time}) in all\\)$`).test(line),
  );
  expect(header).toBeGreaterThanOrEqual(0);
  expect(started).toBeGreaterThan(header);
  expect(ended).toBeGreaterThan(started);
  // The verdict comes after the lesson's ✓ lines, and a bar's redraws never reach a log.
  expect(lines.slice(started + 1, ended).some((line) => line.startsWith('  ✓ '))).toBe(true);
  expect(exit.stderr).not.toContain('\r');
  const record = JSON.parse(readFileSync(progressFile, 'utf8'))['03'];
  expect(record).toMatchObject({ ok: true, failed: 0, seconds: expect.any(Number) });
});
