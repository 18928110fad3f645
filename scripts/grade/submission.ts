// Reads SUBMISSION.md as scripts/submit.ts writes it: the learner's name and date, the environment
// record, the checks record (its table and each lesson's list of tests, which must agree) and the
// lesson 05 table it quotes from results/summary.md.
import type { Finding } from './finding.ts';

export interface LessonResult {
  ok: boolean;
  passed: number;
  failed: number;
}

export interface Submission {
  name: string;
  date: string;
  lessons: Record<string, LessonResult>;
  /** Lesson 05's table rows as claimed, by configuration name: header → cell. */
  lesson05: Map<string, Map<string, string>>;
  findings: Finding[];
}

/** The labels of aboutText(), in scripts/about.ts. */
const environmentLabels = [
  'When',
  'OS',
  'CPU',
  'Memory',
  'Node / npm',
  'amqplib',
  'RabbitMQ',
  'PostgreSQL',
  'Mosquitto',
];

/** The text under each '## ' heading, by heading. */
function sections(markdown: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of markdown.split(/^## /m).slice(1)) {
    const newline = part.indexOf('\n');
    found.set(part.slice(0, newline === -1 ? undefined : newline).trim(), part.slice(newline + 1));
  }
  return found;
}

/** A markdown table's rows as cells, the separator row left out. */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .replace(/^\||\|\s*$/g, '')
        .split('|')
        .map((cell) => cell.trim()),
    )
    .filter((cells) => !cells.every((cell) => /^:?-+:?$/.test(cell)));
}

/** Lesson 05's summary table (run-experiment's summaryTable), by configuration name. */
export function summaryRows(text: string): Map<string, Map<string, string>> {
  const [header, ...rows] = tableRows(text);
  const byName = new Map<string, Map<string, string>>();
  if (header?.[0] !== 'configuration') return byName;
  for (const cells of rows) {
    const name = (cells[0] ?? '').replace(/\s*—.*$/, '').trim();
    byName.set(name, new Map(header.map((column, i) => [column, cells[i] ?? ''])));
  }
  return byName;
}

function environment(text: string | undefined): Finding[] {
  if (text === undefined) return [{ text: 'SUBMISSION.md has no environment record', fails: true }];
  const block = /```\n([\s\S]*?)```/.exec(text)?.[1] ?? '';
  const missing = environmentLabels.filter((label) => !new RegExp(`^${label} {2,}\\S`, 'm').test(block));
  return missing.length ? [{ text: `the environment record lacks ${missing.join(', ')}`, fails: true }] : [];
}

function checks(text: string | undefined): { lessons: Record<string, LessonResult>; findings: Finding[] } {
  const lessons: Record<string, LessonResult> = {};
  const findings: Finding[] = [];
  const bad = (why: string) => findings.push({ text: `the checks record is malformed: ${why}`, fails: true });
  if (text === undefined) {
    bad('SUBMISSION.md has no Checks section');
    return { lessons, findings };
  }
  if (/^Not run again \(--skip-checks\)/m.test(text))
    findings.push({ text: 'the checks were not run again for the hand-in (--skip-checks)', fails: false });
  const [header, ...rows] = tableRows(text);
  if (header?.join('|') !== 'lesson|result|passed|failed') {
    bad('no table of lessons');
    return { lessons, findings };
  }
  const lists = new Map<string, string>();
  for (const part of text.split(/^### Lesson /m).slice(1)) lists.set(part.slice(0, 2), part.slice(2));
  for (const [lesson = '', result, passedText = '', failedText = ''] of rows) {
    const passed = Number(passedText);
    const failed = Number(failedText);
    if (!/^\d\d$/.test(lesson) || !/^\d+$/.test(passedText) || !/^\d+$/.test(failedText)) {
      bad(`the row '${[lesson, result, passedText, failedText].join(' | ')}' is not a lesson's result`);
      continue;
    }
    if (lessons[lesson]) bad(`lesson ${lesson} appears twice`);
    const ok = result === '✓';
    if (ok !== (failed === 0)) bad(`lesson ${lesson} is marked ${result} with ${failed} failed`);
    const list = lists.get(lesson);
    if (list === undefined) bad(`lesson ${lesson} has no list of its tests`);
    else {
      const ticks = (list.match(/^- ✓ /gm) ?? []).length;
      const crosses = (list.match(/^- ✗ /gm) ?? []).length;
      if (ticks !== passed || crosses !== failed)
        bad(
          `lesson ${lesson} says ${passed} passed and ${failed} failed, its list shows ${ticks} and ${crosses}`,
        );
    }
    lessons[lesson] = { ok, passed, failed };
  }
  for (const lesson of lists.keys())
    if (!lessons[lesson]) bad(`lesson ${lesson} is listed but not in the table`);
  return { lessons, findings };
}

/** What SUBMISSION.md says; a part it lacks or that contradicts itself is a finding, never a throw. */
export function readSubmission(markdown: string): Submission {
  const parts = sections(markdown);
  const name = /^# Submission: (.+)$/m.exec(markdown)?.[1]?.trim() ?? '';
  const date = /^Made (\S+) by `npm run submit`/m.exec(markdown)?.[1] ?? '';
  const findings: Finding[] = [];
  if (!name) findings.push({ text: 'SUBMISSION.md names no learner', fails: true });
  if (!date) findings.push({ text: 'SUBMISSION.md gives no date', fails: true });
  findings.push(...environment(parts.get('Environment')));
  const checked = checks(parts.get('Checks'));
  findings.push(...checked.findings);
  return {
    name,
    date,
    lessons: checked.lessons,
    lesson05: summaryRows(parts.get('Lesson 05 results') ?? ''),
    findings,
  };
}
