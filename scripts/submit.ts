// npm run submit -- --name "Learner Name": runs every check and packs what the lessons produced
// (results, logs, the environment and the check results) into submission/<name>-<date>.tar.gz.
// Every text file is masked on its way in (a log line may quote a URL with its password); a binary
// file that holds a configured password is left out.
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
import { settings } from '../shared/config.ts';
import { UsageError } from '../shared/errors.ts';
import { defineProgram, type Values } from '../shared/flags.ts';
import { type RunContext, runMain } from '../shared/program.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { maskSecrets, urlSecrets } from '../shared/secrets.ts';
import { about, aboutText } from './about.ts';
import { check } from './check.ts';
import { type LessonCheck, readProgress } from './progress.ts';

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
    skipChecks: {
      type: 'boolean',
      default: false,
      description: 'pack the results of your last npm run check instead of running the checks again',
    },
    maxFileMb: {
      type: 'number',
      min: 0.001,
      default: 20,
      description: 'leave out any file larger than this',
    },
  },
  examples: [
    'npm run submit -- --name "Ada Lovelace"',
    'npm run submit -- --name "Ada Lovelace" --skip-checks',
  ],
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

/** Text files are masked on the way in; a NUL byte marks a binary one (PNG, gzip). */
function isText(content: Buffer): boolean {
  return !content.subarray(0, 8192).includes(0);
}

/** The passwords of the configured URLs, to keep binary files that hold one out of the archive. */
function configuredSecrets(): string[] {
  const urls: string[] = [];
  for (const read of [
    () => settings().amqpUrls.join(','),
    () => settings().databaseUrl,
    () => settings().mqttUrl,
    () => settings().managementUrl,
  ]) {
    try {
      urls.push(read());
    } catch {
      // a URL that does not parse: maskSecrets hides it whole in text; nothing to look for here
    }
  }
  return urls.flatMap(urlSecrets);
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

  let checks: Record<string, LessonCheck>;
  if (options.skipChecks) {
    log.info(' [*] Packing the results of your last npm run check (--skip-checks).');
    const recorded = readProgress();
    // Saved as '02', typed as 2 or 02: the same padding check() applies.
    const wanted = options.lessons.map((n) => n.padStart(2, '0'));
    checks = wanted.length
      ? Object.fromEntries(Object.entries(recorded).filter(([n]) => wanted.includes(n)))
      : recorded;
  } else {
    log.info(' [*] Running the checks…');
    checks = await check(options.lessons, (line) => log.info(line));
  }
  const record = await about();
  const secrets = configuredSecrets();

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
      const content = readFileSync(file);
      if (isText(content)) {
        mkdirSync(join(stage, path, '..'), { recursive: true });
        writeFileSync(join(stage, path), maskSecrets(content.toString('utf8')));
      } else if (secrets.some((secret) => content.includes(secret))) {
        skipped.push(`${path} (never packed: it holds a password from your URLs)`);
        continue;
      } else {
        mkdirSync(join(stage, path, '..'), { recursive: true });
        cpSync(file, join(stage, path));
      }
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
    ...(options.skipChecks
      ? ['Not run again (--skip-checks): the results of the last `npm run check`.', '']
      : []),
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
