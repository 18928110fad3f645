// Grades one archive: unpacks it into a private folder (archive.ts), reads SUBMISSION.md
// (submission.ts), verifies lesson 05's runs (results-runs.ts), and removes the folder.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type Limits, RefusedArchive, unpack } from './archive.ts';
import type { Finding } from './finding.ts';
import { verifyRuns } from './results-runs.ts';
import { type LessonResult, readSubmission } from './submission.ts';

export interface Grade {
  archive: string;
  learner: string;
  date: string;
  lessons: Record<string, LessonResult>;
  /** 'refused': nothing in it was graded; 'no': a finding fails; 'yes': every check held. */
  verified: 'yes' | 'no' | 'refused';
  findings: Finding[];
}

export async function gradeArchive(file: string, limits: Limits): Promise<Grade> {
  const archive = basename(file);
  const refused = (why: string): Grade => ({
    archive,
    learner: '',
    date: '',
    lessons: {},
    verified: 'refused',
    findings: [{ text: `${archive} was refused: ${why}; nothing in it was graded`, fails: true }],
  });
  const root = mkdtempSync(join(tmpdir(), 'grade-'));
  try {
    let files: string[];
    try {
      files = await unpack(file, root, limits);
    } catch (error) {
      if (error instanceof RefusedArchive) return refused(error.message);
      throw error;
    }
    if (!files.includes('SUBMISSION.md') || !existsSync(join(root, 'SUBMISSION.md')))
      return refused('it holds no SUBMISSION.md, so npm run submit did not make it');
    const submission = readSubmission(readFileSync(join(root, 'SUBMISSION.md'), 'utf8'));
    const findings = [...submission.findings, ...(await verifyRuns(root, files, submission.lesson05))];
    return {
      archive,
      learner: submission.name,
      date: submission.date,
      lessons: submission.lessons,
      verified: findings.some((finding) => finding.fails) ? 'no' : 'yes',
      findings,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Marks every archive whose learner has another archive too: both stay graded, each names the other. */
export function markDuplicates(grades: Grade[]): void {
  const byLearner = new Map<string, Grade[]>();
  for (const grade of grades) {
    if (!grade.learner) continue;
    const key = grade.learner.trim().toLowerCase();
    byLearner.set(key, [...(byLearner.get(key) ?? []), grade]);
  }
  for (const same of byLearner.values()) {
    if (same.length < 2) continue;
    for (const grade of same) {
      const others = same.filter((other) => other !== grade).map((other) => other.archive);
      grade.findings.push({
        text: `a duplicate: ${others.join(', ')} is ${grade.learner}'s too`,
        fails: true,
      });
    }
  }
}
