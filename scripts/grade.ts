// npm run grade -- <folder or archives…>: for the instructor. Opens each hand-in archive made by
// npm run submit without running anything from it, verifies what can be recomputed (lesson 05's
// runs, figure by figure; the checks and environment records), writes grades.csv and grades.html
// into the folder it graded and prints one line per learner. A bad archive is one row and one
// line; the others are graded all the same.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CourseError, UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { type Grade, gradeArchive, markDuplicates } from './grade/grade-archive.ts';
import { writeGrades } from './grade/grades-file.ts';

export const program = defineProgram({
  name: 'grade',
  summary: 'Verify hand-in archives (npm run submit) and write grades.csv and grades.html beside them.',
  positionals: 'folder or archive',
  flags: {
    out: { type: 'string', description: 'where grades.csv and grades.html go (default: the folder graded)' },
    maxEntryMb: {
      type: 'number',
      min: 0.001,
      default: 64,
      description: 'refuse an archive with an entry larger than this',
    },
    maxTotalMb: {
      type: 'number',
      min: 0.001,
      default: 512,
      description: 'refuse an archive that unpacks to more than this',
    },
  },
  examples: [
    'npm run grade -- ~/hand-ins',
    'npm run grade -- ada-lovelace-2026-12-03.tar.gz grace-2026-12-04.tar.gz',
  ],
});

const isArchive = (name: string) => /\.(tar\.gz|tgz)$/i.test(name);

/** The archives named: a folder's .tar.gz/.tgz files, or the files themselves. */
function archives(paths: string[]): string[] {
  if (!paths.length)
    throw new UsageError(
      'Name the folder of hand-ins or the archives to grade: npm run grade -- <folder> (or a.tar.gz b.tar.gz).',
    );
  return paths.flatMap((path) => {
    if (!existsSync(path)) throw new UsageError(`There is no file or folder '${path}': check the path.`);
    if (!statSync(path).isDirectory()) return [resolve(path)];
    const found = readdirSync(path)
      .filter(isArchive)
      .sort()
      .map((name) => resolve(path, name));
    if (!found.length)
      throw new UsageError(
        `The folder '${path}' holds no .tar.gz archives: put the learners' hand-ins (npm run submit makes them) there.`,
      );
    return found;
  });
}

/** One line for the learner's archive: who, how many lessons passed, verified or the first warning. */
function line(grade: Grade): string {
  const lessons = Object.values(grade.lessons);
  const passed = lessons.filter((lesson) => lesson.ok).length;
  const fails = grade.findings.filter((finding) => finding.fails);
  if (grade.verified === 'refused') return ` [✗] ${grade.findings[0]?.text}.`;
  const more = fails.length > 1 ? ` (and ${fails.length - 1} more in grades.csv)` : '';
  return ` [${fails.length ? '!' : '✓'}] ${grade.learner || '(no name)'} (${grade.archive}, ${grade.date.slice(0, 10)}): ${passed} of ${lessons.length} lessons passed, ${grade.verified === 'yes' ? 'verified' : 'not verified'}${fails.length ? `: ${fails[0]?.text}${more}` : ''}.`;
}

export async function grade(options: Values<typeof program.flags>, { log }: Pick<RunContext, 'log'>) {
  const files = archives(options.positionals);
  const first = options.positionals[0]!;
  const out = options.out ?? (statSync(first).isDirectory() ? first : dirname(first));
  const limits = { entryBytes: options.maxEntryMb * 2 ** 20, totalBytes: options.maxTotalMb * 2 ** 20 };
  const grades: Grade[] = [];
  for (const file of files) grades.push(await gradeArchive(file, limits));
  markDuplicates(grades);
  for (const grade of grades) process.stdout.write(`${line(grade)}\n`);
  mkdirSync(out, { recursive: true });
  const [csv, html] = writeGrades(out, grades);
  log.info(` [*] ${csv} and ${html}: one row per archive.`);
  const attention = grades.filter((grade) => grade.findings.some((finding) => finding.fails)).length;
  if (attention)
    throw new CourseError(
      `${attention} of ${grades.length} archives need a look (refused, not verified or a duplicate): see the warnings in ${csv}.`,
      { code: 'NOT_VERIFIED' },
    );
  log.success(` [✓] ${grades.length} archive${grades.length === 1 ? '' : 's'} graded, all verified.`);
  return grades;
}

runMain(import.meta, program, grade, []);
