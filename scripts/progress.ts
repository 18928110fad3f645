// The learner's progress: what `npm run check` found, read by the course menu. Git-ignored.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../shared/repo-root.ts';

export interface LessonCheck {
  ok: boolean;
  passed: number;
  failed: number;
  at: string;
  /** How long the lesson's check took, to estimate the next run's (absent in older records). */
  seconds?: number;
  results: { name: string; ok: boolean; hint?: string }[];
}

export type Progress = Record<string, LessonCheck>;

export const progressFile = () =>
  process.env.COURSE_PROGRESS_FILE || join(repoRoot, '.course', 'progress.json');

export function readProgress(): Progress {
  try {
    return JSON.parse(readFileSync(progressFile(), 'utf8')) as Progress;
  } catch {
    return {};
  }
}

export function recordProgress(lesson: string, check: LessonCheck): void {
  const file = progressFile();
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...readProgress(), [lesson]: check }, null, 2)}\n`);
}
