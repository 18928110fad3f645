// npm run grade on a real hand-in (a real lesson 05 run packed by npm run submit) and on tampered
// copies of it: each tampering is caught and named in its row of grades.csv, and none stops the
// others being graded.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import tar, { type Header } from 'tar-stream';
import { type Exit, runProgram } from '../test/testing.ts';

const scratch = mkdtempSync(join(tmpdir(), 'grade-'));
const handIns = join(scratch, 'hand-ins');
// Where a '../' entry would land if it escaped the private folder grade unpacks into (in tmpdir()).
const escaped = `grade-test-escaped-${process.pid}.sh`;
let real = '';

type Entry = Partial<Header> & { name: string };

/** A gzip tar written entry by entry, so a test can put in what GNU tar would not (a '../' name). */
async function craft(file: string, entries: Entry[], content = (_: Entry) => Buffer.alloc(0)) {
  const pack = tar.pack();
  for (const header of entries) pack.entry(header, content(header));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  writeFileSync(file, execFileSync('gzip', ['-c'], { input: Buffer.concat(chunks) }));
}

/** A copy of the real archive with `edit` applied to its unpacked files, repacked as submit packs. */
function tamper(name: string, edit: (dir: string) => void) {
  const dir = mkdtempSync(join(scratch, 'edit-'));
  execFileSync('tar', ['-xzf', real, '-C', dir]);
  // A new learner's name, so the copies are not also one another's duplicates.
  const submission = join(dir, 'SUBMISSION.md');
  writeFileSync(
    submission,
    readFileSync(submission, 'utf8').replace(/^# Submission: .*$/m, `# Submission: ${name}`),
  );
  edit(dir);
  execFileSync('tar', ['-czf', join(handIns, `${name}.tar.gz`), '-C', dir, '.']);
}

function rows(folder: string): Map<string, Record<string, string>> {
  const records = parse(readFileSync(join(folder, 'grades.csv'), 'utf8'), { columns: true }) as Record<
    string,
    string
  >[];
  return new Map(records.map((record) => [record.archive!, record]));
}

const warnings = (row: Record<string, string> | undefined) =>
  Object.entries(row ?? {})
    .filter(([column, text]) => column.startsWith('warning') && text)
    .map(([, text]) => text);

beforeAll(async () => {
  // A real lesson 05 run (50 messages on the course broker) and a real checks record, packed by submit.
  const from = join(scratch, 'course');
  const made = await runProgram('05-performance/run-experiment', [
    'reference',
    '--scale',
    '0.05',
    '--out',
    join(from, 'results'),
  ]);
  expect(made.code).toBe(0);
  const progress = join(scratch, 'progress.json');
  const at = new Date().toISOString();
  writeFileSync(
    progress,
    JSON.stringify({
      '01': {
        ok: true,
        passed: 2,
        failed: 0,
        at,
        results: [
          { name: 'hello', ok: true },
          { name: 'bye', ok: true },
        ],
      },
      '02': {
        ok: false,
        passed: 1,
        failed: 1,
        at,
        results: [
          { name: 'a', ok: true },
          { name: 'b', ok: false, hint: 'RabbitMQ is not running: npm run services' },
        ],
      },
    }),
  );
  const submitted = await runProgram(
    'scripts/submit',
    ['--name', 'Ada Lovelace', '--skip-checks', '--from', from, '--out', handIns],
    { COURSE_PROGRESS_FILE: progress },
  );
  expect(submitted.code).toBe(0);
  const [archive] = readdirSync(handIns);
  real = join(handIns, archive!);
}, 60_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm run grade', () => {
  test('a real hand-in is verified, its lessons and date in its row, grades.html beside grades.csv', async () => {
    const alone = join(scratch, 'alone');
    mkdirSync(alone);
    copyFileSync(real, join(alone, 'ada.tar.gz'));
    const exit = await runProgram('scripts/grade', [alone]);
    expect(exit.code).toBe(0);
    const row = rows(alone).get('ada.tar.gz');
    expect(row).toMatchObject({
      learner: 'Ada Lovelace',
      'lesson 01': 'passed',
      'lesson 02': 'failed',
      verified: 'yes',
    });
    expect(row?.date).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Only a note: the checks were packed from the last run, not run again.
    expect(warnings(row)).toEqual(['the checks were not run again for the hand-in (--skip-checks)']);
    expect(exit.stdout).toMatch(
      /\[✓\] Ada Lovelace \(ada\.tar\.gz, \d{4}-\d\d-\d\d\): 1 of 2 lessons passed, verified\./,
    );
    const html = readFileSync(join(alone, 'grades.html'), 'utf8');
    expect(html).toContain('<td class="">Ada Lovelace</td>');
    expect(html).not.toMatch(/<script src|<link |https?:\/\//); // offline: nothing fetched
  });

  test('tampered and unsafe archives are each caught and named, and the batch goes on', async () => {
    tamper('edited-figure', (dir) => {
      const file = join(dir, 'results/reference/summary.csv');
      const [header, send, latency] = readFileSync(file, 'utf8').split('\n');
      const cells = latency!.split(',');
      cells[7] = '0.001'; // latency_ms p99
      writeFileSync(file, `${[header, send, cells.join(','), ''].join('\n')}`);
    });
    tamper('edited-table', (dir) => {
      const file = join(dir, 'SUBMISSION.md');
      const edited = readFileSync(file, 'utf8').replace(/^\| reference — .*$/m, (row) => {
        const cells = row.split('|');
        cells[7] = ' 999.9 '; // latency p50 ms (cells[0] is the empty text before the first '|')
        return cells.join('|');
      });
      writeFileSync(file, edited);
    });
    tamper('edited-records', (dir) => {
      const file = join(dir, 'SUBMISSION.md');
      const edited = readFileSync(file, 'utf8')
        .replace('| 02 | ✗ | 1 | 1 |', '| 02 | ✓ | 2 | 0 |') // a failed lesson made to pass
        .replace(/^## Environment\n[\s\S]*?(?=^## Checks)/m, ''); // the environment record dropped
      writeFileSync(file, edited);
    });
    tamper('duplicated-ids', (dir) => {
      const file = join(dir, 'results/reference/producer.csv');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, `${text}${text.split('\n')[0]}\n`);
    });
    const md = execFileSync('tar', ['-xzOf', real, './SUBMISSION.md']);
    await craft(
      join(handIns, 'climbs-out.tar.gz'),
      [
        { name: 'SUBMISSION.md', size: md.length },
        { name: `../${escaped}`, size: 4 },
      ],
      (h) => (h.name === 'SUBMISSION.md' ? md : Buffer.from('boom')),
    );
    await craft(
      join(handIns, 'link.tar.gz'),
      [
        { name: 'SUBMISSION.md', size: md.length },
        { name: 'results/passwd', type: 'symlink', linkname: '/etc/passwd' },
      ],
      (h) => (h.name === 'SUBMISSION.md' ? md : Buffer.alloc(0)),
    );
    await craft(
      join(handIns, 'oversized.tar.gz'),
      [
        { name: 'SUBMISSION.md', size: md.length },
        { name: 'logs/huge.log', size: 3 * 2 ** 20 },
      ],
      (h) => (h.name === 'SUBMISSION.md' ? md : Buffer.alloc(3 * 2 ** 20)),
    );
    await craft(join(handIns, 'no-submission.tar.gz'), [{ name: 'results/notes.txt', size: 2 }], () =>
      Buffer.from('hi'),
    );
    const whole = readFileSync(real);
    writeFileSync(join(handIns, 'truncated.tar.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    writeFileSync(join(handIns, 'not-gzip.tar.gz'), 'these are my results, honest\n');
    copyFileSync(real, join(handIns, 'ada-again.tar.gz'));

    const exit: Exit = await runProgram('scripts/grade', [handIns, '--max-entry-mb', '2']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/12 of 12 archives need a look \(refused, not verified or a duplicate\)/);
    expect(exit.stderr + exit.stdout).not.toMatch(/\n\s+at /); // no stack
    const graded = rows(handIns);
    expect(graded.size).toBe(12);
    const row = (name: string) => graded.get(name);
    const realName = real.slice(handIns.length + 1);

    expect(row('edited-figure.tar.gz')?.verified).toBe('no');
    expect(warnings(row('edited-figure.tar.gz'))).toContainEqual(
      expect.stringMatching(
        /^results\/reference\/summary\.csv says latency_ms p99 0\.001, its CSVs give \d+\.\d{3}$/,
      ),
    );
    expect(row('edited-table.tar.gz')?.verified).toBe('no');
    expect(warnings(row('edited-table.tar.gz'))).toEqual([
      'the checks were not run again for the hand-in (--skip-checks)',
      expect.stringMatching(/^SUBMISSION\.md says reference latency p50 ms 999\.9, its CSVs give \d+\.\d$/),
    ]);
    expect(row('edited-records.tar.gz')).toMatchObject({ 'lesson 02': 'passed', verified: 'no' });
    expect(warnings(row('edited-records.tar.gz'))).toEqual([
      'SUBMISSION.md has no environment record',
      'the checks were not run again for the hand-in (--skip-checks)',
      'the checks record is malformed: lesson 02 says 2 passed and 0 failed, its list shows 1 and 1',
    ]);
    expect(row('duplicated-ids.tar.gz')?.verified).toBe('no');
    expect(warnings(row('duplicated-ids.tar.gz'))).toContain(
      'results/reference/producer.csv holds 1 duplicated message id',
    );
    const refusal = (name: string) => {
      expect(row(name)?.verified).toBe('refused');
      return warnings(row(name))[0];
    };
    expect(refusal('climbs-out.tar.gz')).toBe(
      `climbs-out.tar.gz was refused: entry '../${escaped}' climbs out with '..'; nothing in it was graded`,
    );
    expect(refusal('link.tar.gz')).toBe(
      "link.tar.gz was refused: entry 'results/passwd' is a symbolic link (to '/etc/passwd'); nothing in it was graded",
    );
    expect(refusal('oversized.tar.gz')).toBe(
      "oversized.tar.gz was refused: entry 'logs/huge.log' is 3.0 MB, over the 2.0 MB limit for one entry (--max-entry-mb); nothing in it was graded",
    );
    expect(refusal('no-submission.tar.gz')).toBe(
      'no-submission.tar.gz was refused: it holds no SUBMISSION.md, so npm run submit did not make it; nothing in it was graded',
    );
    expect(refusal('truncated.tar.gz')).toMatch(
      /^truncated\.tar\.gz was refused: it is truncated or damaged \(.+\)/,
    );
    expect(refusal('not-gzip.tar.gz')).toBe(
      'not-gzip.tar.gz was refused: it is not a gzip tar archive (no gzip header); nothing in it was graded',
    );
    // Two archives of one learner: both graded, each names the other.
    expect(row(realName)?.verified).toBe('yes');
    expect(warnings(row(realName))).toContain(`a duplicate: ada-again.tar.gz is Ada Lovelace's too`);
    expect(warnings(row('ada-again.tar.gz'))).toContain(`a duplicate: ${realName} is Ada Lovelace's too`);
    // Nothing from the archives escaped the private folder it was unpacked into.
    expect(existsSync(join(tmpdir(), escaped))).toBe(false);
    expect(exit.stdout.trim().split('\n')).toHaveLength(12);
  });

  test.each([
    [[], /^Name the folder of hand-ins or the archives to grade: npm run grade -- <folder>/],
    [['EMPTY'], /^The folder '.+' holds no \.tar\.gz archives: put the learners' hand-ins/],
  ])('bad input %j is one sentence and exit 2', async (args, sentence) => {
    const empty = mkdtempSync(join(scratch, 'empty-'));
    const exit = await runProgram(
      'scripts/grade',
      args.map((arg) => (arg === 'EMPTY' ? empty : arg)),
    );
    expect(exit.code).toBe(2);
    expect(exit.stderr.trim()).toMatch(sentence);
    expect(exit.stderr.trim().split('\n')).toHaveLength(1);
  });
});
