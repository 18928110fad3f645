// npm run submit -- --name "Learner Name": runs every check and packs what the lessons produced
// (results, logs, the environment and the check results) into submission/<name>-<date>.tar.gz.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { defineProgram, type RunContext, runMain, type Values } from '../shared/cli.ts';
import { maskSecrets } from '../shared/config.ts';
import { UsageError } from '../shared/errors.ts';
import { repoRoot } from '../shared/logger.ts';
import { about, aboutText } from './about.ts';
import { check } from './check.ts';

export const program = defineProgram({
  name: 'submit',
  summary: 'Run every check and pack results, logs and the environment record into one archive to hand in.',
  flags: {
    name: { type: 'string', description: 'your name, as it should appear on the hand-in' },
    lessons: { type: 'strings', description: 'check only these lessons (default: all)' },
    out: { type: 'string', default: join(repoRoot, 'submission'), description: 'where the archive goes' },
    from: {
      type: 'string',
      default: repoRoot,
      description: 'the course folder to take results/ and logs/ from',
    },
    maxFileMb: {
      type: 'number',
      min: 0.001,
      default: 20,
      description: 'leave out any file larger than this',
    },
  },
  examples: ['npm run submit -- --name "Ada Lovelace"'],
});

/** Never packed, whatever folder they are in. */
const secret =
  /(^|\/)(node_modules|\.git)(\/|$)|(^|\/)\.env(\..*)?$|\.(pem|key|p12|pfx)$|(^|\/)(credentials|secrets?)(\.|\/|$)|(^|\/)\.npmrc$/i;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

export async function submit(
  options: Values<typeof program.flags>,
  { log }: Pick<RunContext, 'log'>,
): Promise<string> {
  if (!options.name?.trim()) throw new UsageError('Give your name: npm run submit -- --name "Your Name".');
  try {
    const dirty = execFileSync('git', ['status', '--porcelain'], {
      cwd: options.from,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    if (dirty.trim())
      log.warn(
        ` [!] You have uncommitted changes (git status); the archive holds your results and logs, not your code changes.`,
      );
  } catch {
    // not a git checkout: nothing to warn about
  }

  log.info(' [*] Running the checks…');
  const checks = await check(options.lessons, (line) => log.info(line));
  const record = await about();

  const stage = mkdtempSync(join(tmpdir(), 'submission-'));
  const packed: string[] = [];
  const skipped: string[] = [];
  for (const folder of ['results', 'logs']) {
    for (const file of files(join(options.from, folder))) {
      const path = relative(options.from, file);
      if (secret.test(path)) {
        skipped.push(`${path} (never packed: it may hold secrets)`);
        continue;
      }
      const mb = statSync(file).size / 2 ** 20;
      if (mb > options.maxFileMb) {
        skipped.push(`${path} (${mb.toFixed(1)} MB, over the ${options.maxFileMb} MB limit)`);
        continue;
      }
      mkdirSync(join(stage, path, '..'), { recursive: true });
      cpSync(file, join(stage, path));
      packed.push(path);
    }
  }

  const summary05 = join(options.from, 'results', 'summary.md');
  const markdown = [
    `# Submission: ${options.name}`,
    '',
    `Made ${record.when} by \`npm run submit\`.`,
    '',
    '## Environment',
    '',
    '```',
    aboutText(record),
    '```',
    '',
    '## Checks',
    '',
    '| lesson | result | passed | failed |',
    '|---|---|---:|---:|',
    ...Object.entries(checks).map(([n, c]) => `| ${n} | ${c.ok ? '✓' : '✗'} | ${c.passed} | ${c.failed} |`),
    '',
    ...Object.entries(checks).flatMap(([n, c]) => [
      `### Lesson ${n}`,
      '',
      ...c.results.map((r) => `- ${r.ok ? '✓' : '✗'} ${r.name}${r.hint ? ` — hint: ${r.hint}` : ''}`),
      '',
    ]),
    '## Lesson 05 results',
    '',
    existsSync(summary05)
      ? readFileSync(summary05, 'utf8')
      : 'No results/summary.md: run `npm run lesson:05 -- run-experiment` first.',
    '',
    '## Files',
    '',
    ...packed.map((path) => `- ${path}`),
    ...(skipped.length ? ['', 'Left out:', ...skipped.map((s) => `- ${s}`)] : []),
    '',
  ].join('\n');
  writeFileSync(join(stage, 'SUBMISSION.md'), maskSecrets(markdown));

  const slug =
    options.name
      .trim()
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'learner';
  mkdirSync(options.out, { recursive: true });
  const archive = join(options.out, `${slug}-${record.when.slice(0, 10)}.tar.gz`);
  execFileSync('tar', ['-czf', archive, '-C', stage, '.']);
  rmSync(stage, { recursive: true, force: true });

  for (const s of skipped) log.warn(` [!] left out ${s}`);
  log.success(
    ` [✓] ${archive}: SUBMISSION.md and ${packed.length} files (${packed.filter((p) => p.startsWith('results')).length} from results/, ${packed.filter((p) => p.startsWith('logs')).length} from logs/).`,
  );
  const failed = Object.values(checks).filter((c) => !c.ok).length;
  if (failed)
    log.warn(
      ` [!] ${failed} lesson check${failed > 1 ? 's' : ''} failed: see SUBMISSION.md for the hints (you may still hand it in).`,
    );
  return archive;
}

runMain(import.meta, program, submit);
