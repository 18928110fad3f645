// What `npm run check` says between lessons when it has no terminal (CI, a pipe): the wording and
// the arithmetic of what is left, on a clock the test moves.
import { expect, test } from '@jest/globals';
import { checkProgress, duration } from './check-progress.ts';
import type { Lesson } from './lessons.ts';

const lesson = (number: string): Lesson => ({
  number,
  folder: `${number}-x`,
  title: '',
  summary: '',
  programs: [],
});

test('each lesson says when it starts and how it ended, its time and what is left', () => {
  let clock = 0;
  const lines: string[] = [];
  const progress = checkProgress([lesson('02'), lesson('03'), lesson('07')], (line) => lines.push(line), {
    terminal: false,
    lastSeconds: { '02': 50, '03': 20 }, // 07 was never checked here: its typical time stands in
    now: () => clock,
  });
  progress.started(lesson('02'));
  clock += 49_000;
  lines.push(progress.ended(lesson('02'), 0, 12));
  progress.started(lesson('03'));
  clock += 21_400;
  lines.push(progress.ended(lesson('03'), 2, 9));
  progress.started(lesson('07'));
  clock += 242_000;
  lines.push(progress.ended(lesson('07'), 0, 8));
  expect(lines).toEqual([
    '  [1/3] lesson 02 started (about 50 s)',
    '  [1/3] lesson 02 passed in 49 s; 2 lessons left, about 5 min 50 s',
    '  [2/3] lesson 03 started (about 20 s)',
    '  [2/3] lesson 03 failed (2 of 9) in 21 s; 1 lesson left, about 5 min 30 s',
    '  [3/3] lesson 07 started (about 5 min 30 s)',
    '  [3/3] lesson 07 passed in 4 min 2 s; none left (5 min 12 s in all)',
  ]);
});

test('durations read as a person says them', () => {
  expect([0, 49_400, 60_000, 242_000, 3_600_000, 3_780_000].map(duration)).toEqual([
    '0 s',
    '49 s',
    '1 min',
    '4 min 2 s',
    '1 h',
    '1 h 3 min',
  ]);
});
