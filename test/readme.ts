// The shell commands a README gives a learner, read the way a learner reads them: every ```sh
// block is a scene; a line that names a terminal (`# terminal 2`) runs in a terminal of its own,
// side by side with the others; the other lines run one after another in one shell. An HTML
// comment just above a block (invisible on GitHub) tells the README test what to expect:
//   <!-- readme-test: expect /regex/ -->   the scene's output must match (one comment per regex)
//   <!-- readme-test: exit 2 -->           the scene's last command ends with this exit code
//   <!-- readme-test: skip <reason> -->    not run, with the reason printed (e.g. it restarts your broker)
//   <!-- readme-test: screenshot <file> -->  npm run screenshots types this block's commands to make
//                                          screenshots/<file> (scripts/screenshots/scenes.ts)
import { readFileSync } from 'node:fs';

export interface Step {
  /** The command exactly as the README prints it (its comment included). */
  command: string;
  /** The terminal the README names for it, if any. */
  terminal?: number;
}

export interface Scene {
  readme: string;
  /** Line number of the opening fence, for messages. */
  line: number;
  steps: Step[];
  expect: RegExp[];
  exitCode: number;
  skip?: string;
  /** The pictures npm run screenshots makes from this block's commands. */
  screenshots: string[];
}

const FENCE = /^```(sh|bash|shell)\s*$/;
const DIRECTIVE = /^<!--\s*readme-test:\s*(expect|exit|skip|screenshot)\s*(.*?)\s*-->\s*$/;

/** The scenes of one README, in order. */
export function scenes(readme: string, text = readFileSync(readme, 'utf8')): Scene[] {
  const lines = text.split('\n');
  const found: Scene[] = [];
  let directives: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const directive = DIRECTIVE.exec(line);
    if (directive) {
      directives.push([directive[1] ?? '', directive[2] ?? '']);
      continue;
    }
    if (!FENCE.test(line)) {
      if (line.trim() !== '') directives = [];
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    found.push(scene(readme, start + 1, body, directives));
    directives = [];
  }
  return found;
}

function scene(readme: string, line: number, body: string[], directives: string[][]): Scene {
  const result: Scene = { readme, line, steps: [], expect: [], exitCode: 0, screenshots: [] };
  for (const [kind, argument = ''] of directives) {
    if (kind === 'screenshot') result.screenshots.push(argument);
    if (kind === 'skip') result.skip = argument || 'no reason given';
    if (kind === 'exit') result.exitCode = Number(argument);
    if (kind === 'expect') {
      const regex = /^\/(.*)\/([a-z]*)$/.exec(argument);
      if (!regex) throw new Error(`${readme}:${line}: expect takes /regex/, not ${argument}`);
      result.expect.push(new RegExp(regex[1] ?? '', regex[2]));
    }
  }
  for (const command of body) {
    if (command.trim() === '' || command.trim().startsWith('#')) continue;
    const terminal = /#.*\bterminal (\d+)/i.exec(command);
    result.steps.push(terminal ? { command, terminal: Number(terminal[1]) } : { command });
  }
  return result;
}

/**
 * The command as a learner types it: without its trailing comment (`# terminal 2: …`) and the
 * spaces that align it. A `#` starts a comment only outside quotes and after a space, as in bash
 * (`--topic 'job/test/#'` keeps its `#`).
 */
export function typed(command: string): string {
  let quote = '';
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(command[i - 1] ?? ''))) return command.slice(0, i).trimEnd();
  }
  return command.trimEnd();
}

// Two more kinds of comment make a README's code and output checked, not just shown:
//   <!-- readme-code: send.ts#publish -->   the ```ts block below equals the region `publish` of
//                                           send.ts (beside the README), marked in the file by
//                                           `// #region publish` … `// #endregion`, dedented
//   <!-- readme-code: illustration <reason> -->  a ```ts block that is not from a program (the plain
//                                           amqplib equivalent, a tutorial's line), with why
//   <!-- readme-output: terminal 2 -->      the ``` block below is what terminal 2 of the nearest
//                                           ```sh block above printed (omit `terminal N` for the
//                                           whole block's output: `whole run`); `mask /regex/`
//                                           hides more
//   <!-- readme-output: diagram -->         a picture, not output
//   <!-- readme-output: not checked <reason> -->  output that no run can reproduce, with why
// Every ```ts block and every untagged or ```text block of a README needs one of them.

const CODE_DIRECTIVE = /^<!--\s*readme-code:\s*(.*?)\s*-->\s*$/;
const OUTPUT_DIRECTIVE = /^<!--\s*readme-output:\s*(.*?)\s*-->\s*$/;
const ANY_FENCE = /^```([\w-]*)\s*$/;

export interface Excerpt {
  readme: string;
  line: number;
  /** `file#region`, or undefined for an illustration. */
  file?: string;
  region?: string;
  /** Why a ```ts block is not from a program (an illustration), or why a block has no directive. */
  illustration?: string;
  body: string[];
}

export interface Output {
  readme: string;
  line: number;
  kind: 'checked' | 'diagram' | 'unchecked' | 'missing';
  /** The ```sh block (index into scenes()) whose run this block shows. */
  scene?: number;
  terminal?: number;
  masks: RegExp[];
  reason?: string;
  body: string[];
}

/** The ```ts blocks and the output blocks of a README, each with what its comment says. */
export function blocks(readme: string, text = readFileSync(readme, 'utf8')) {
  const lines = text.split('\n');
  const excerpts: Excerpt[] = [];
  const outputs: Output[] = [];
  let sceneIndex = -1;
  let code: string | undefined;
  let output: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const codeDirective = CODE_DIRECTIVE.exec(line);
    const outputDirective = OUTPUT_DIRECTIVE.exec(line);
    if (codeDirective) code = codeDirective[1];
    if (outputDirective) output = outputDirective[1];
    if (codeDirective || outputDirective || DIRECTIVE.test(line)) continue;
    const fence = ANY_FENCE.exec(line);
    if (!fence) {
      if (line.trim() !== '') code = output = undefined;
      continue;
    }
    const language = fence[1] ?? '';
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    if (FENCE.test(line)) sceneIndex++;
    else if (language === 'ts' || language === 'typescript' || language === 'js') {
      excerpts.push(excerpt(readme, start, body, code));
    } else if (language === '' || language === 'text' || language === 'console') {
      outputs.push(outputBlock(readme, start, body, output, sceneIndex));
    }
    code = output = undefined;
  }
  return { excerpts, outputs };
}

function excerpt(readme: string, line: number, body: string[], directive: string | undefined): Excerpt {
  if (directive === undefined) return { readme, line, body };
  const illustration = /^illustration\b\s*(.*)$/.exec(directive);
  if (illustration) return { readme, line, body, illustration: illustration[1] || '' };
  const [file, region] = directive.split('#');
  return { readme, line, body, file, region };
}

function outputBlock(
  readme: string,
  line: number,
  body: string[],
  directive: string | undefined,
  scene: number,
): Output {
  const base = { readme, line, body, masks: [] as RegExp[] };
  if (directive === undefined) return { ...base, kind: 'missing' };
  if (/^diagram\b/.test(directive)) return { ...base, kind: 'diagram' };
  const unchecked = /^not checked\b\s*(.*)$/.exec(directive);
  if (unchecked) return { ...base, kind: 'unchecked', reason: unchecked[1] ?? '' };
  const terminal = /\bterminal (\d+)/.exec(directive);
  const masks = [...directive.matchAll(/\bmask \/((?:\\.|[^/])+)\/([a-z]*)/g)].map(
    (match) => new RegExp(match[1] ?? '', `${(match[2] ?? '').replace('g', '')}g`),
  );
  return {
    ...base,
    kind: 'checked',
    scene: scene >= 0 ? scene : undefined,
    terminal: terminal ? Number(terminal[1]) : undefined,
    masks,
  };
}

/** The lines between `// #region name` and `// #endregion` in a program, dedented. */
export function region(source: string, name: string): string[] | undefined {
  const lines = source.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\s*// #region ${name}\\s*$`).test(line));
  if (start < 0) return undefined;
  const end = lines.findIndex((line, index) => index > start && /^\s*\/\/ #endregion\b/.test(line));
  if (end < 0) return undefined;
  const inside = lines.slice(start + 1, end).map((line) => line.trimEnd());
  const indent = Math.min(
    ...inside.filter((line) => line.trim() !== '').map((line) => /^ */.exec(line)?.[0].length ?? 0),
  );
  return inside.map((line) => line.slice(Number.isFinite(indent) ? indent : 0));
}

/** What varies from run to run, hidden alike in what a README prints and what a run printed. */
const VARIES: [RegExp, string][] = [
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are what we strip
  [/\x1b\[[0-9;]*m/g, ''],
  [/\(pid \d+\)/g, '(pid N)'],
  [/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?/g, 'DATE'],
  [/\b\d{1,2}:\d\d:\d\d(\.\d+)?\b/g, 'TIME'],
  [/\b\d[\d,]*(\.\d+)?\s?(msg\/s|messages\/s|\/s)/g, 'RATE'],
  [/\b\d[\d,]*(\.\d+)?\s?(ms|s|seconds?|min|minutes?)\b/g, 'DURATION'],
  [/\bamq\.gen-[\w-]+/g, 'amq.gen-X'],
];

export function masked(line: string, extra: RegExp[] = []): string {
  let result = line;
  for (const [pattern, replacement] of VARIES) result = result.replace(pattern, replacement);
  for (const pattern of extra) result = result.replace(pattern, '<masked>');
  return result.trim();
}

/**
 * Where the README's lines stop appearing, in order, in what a run printed (`…` in a README line
 * matches anything): undefined when every line was found, else the first line that was not.
 */
export function missingLine(expected: string[], printed: string, extra: RegExp[] = []): string | undefined {
  const out = printed.split(/\r?\n/).map((line) => masked(line, extra));
  let cursor = 0;
  for (const wanted of expected) {
    if (wanted.trim() === '') continue;
    const pattern = new RegExp(
      `^${masked(wanted, extra)
        .split('…')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    const found = out.findIndex((line, index) => index >= cursor && pattern.test(line));
    if (found < 0) return wanted;
    cursor = found + 1;
  }
  return undefined;
}
