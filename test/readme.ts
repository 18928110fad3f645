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
