// Every command a README gives a learner, run exactly as printed, in order, in a scratch clone of
// the repo: `npm run …` with its banner and redirections, several terminals side by side. A scene
// passes when every command ends by itself with the exit code the README implies and the output
// shows what the README says it shows. The learner's broker is left alone: the scenes run against a
// private RabbitMQ node (AMQP_URL and RABBITMQ_MANAGEMENT_URL point there).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { usePrivateBroker } from './private-broker.ts';
import { blocks, missingLine, type Scene, type Step, scenes } from './readme.ts';

const repo = join(import.meta.dirname, '..');
// Slot 8 unless told otherwise (README_TEST_SLOT), so two checkouts can run it side by side.
const node = usePrivateBroker(Number(process.env.README_TEST_SLOT ?? 8), undefined, { stream: true });
let scratch = '';

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'readme-commands-'));
  execFileSync('git', ['clone', '--quiet', repo, scratch]);
  symlinkSync(join(repo, 'node_modules'), join(scratch, 'node_modules'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const readmes = [
  'README.md',
  ...readdirSync(repo)
    .filter((entry) => /^\d\d-/.test(entry))
    .sort()
    .map((lesson) => join(lesson, 'README.md')),
];

interface Ran {
  output: string;
  /** What each terminal printed, by its number. */
  terminals: Map<number, string>;
  exitCode: number | null;
}

function shell(command: string): ChildProcess {
  return spawn('bash', ['-o', 'pipefail', '-c', command], {
    cwd: scratch,
    env: {
      ...process.env,
      CI: 'true',
      AMQP_URL: node.amqpUrl,
      RABBITMQ_MANAGEMENT_URL: node.managementUrl,
      RABBITMQ_STREAM_URL: node.streamUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a scene that overruns is ended whole
  });
}

function collect(child: ChildProcess, sink: string[], own: string[]): Promise<number | null> {
  const take = (chunk: Buffer) => {
    sink.push(chunk.toString());
    own.push(chunk.toString());
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return once(child, 'close').then(([code]) => code as number | null);
}

/**
 * A terminal's program is ready when it says it waits (` [*] … waiting`) or when it has ended.
 * Only its own output counts: the first terminal's `[*]` must not let the third command run before
 * the second terminal's worker has subscribed (CI saw exactly that race in lesson 02's round robin).
 */
function ready(child: ChildProcess, ended: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    let own = '';
    const check = (chunk: Buffer) => {
      own += chunk.toString();
      if (/\[\*\]|waiting/i.test(own)) resolve();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    void ended.then(() => resolve());
  });
}

async function play(scene: Scene): Promise<Ran> {
  const sink: string[] = [];
  const started: ChildProcess[] = [];
  const terminals: { ended: Promise<number | null>; step: Step }[] = [];
  const printed = new Map<number, string[]>();
  const launch = (command: string, terminal?: number) => {
    const child = shell(command);
    started.push(child);
    // Commands typed one after another in the same terminal add to what that terminal shows.
    const own: string[] = (terminal === undefined ? undefined : printed.get(terminal)) ?? [];
    if (terminal !== undefined) printed.set(terminal, own);
    return { child, ended: collect(child, sink, own) };
  };
  let exitCode: number | null = 0;
  // A scene that does not end by itself is a README bug: end it whole and say which command hung.
  let overran = false;
  const deadline = setTimeout(() => {
    overran = true;
    for (const child of started) if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, 240_000);
  try {
    let plain: string[] = [];
    const runPlain = async () => {
      if (plain.length === 0) return;
      exitCode = await launch(`set -e\n${plain.join('\n')}`).ended;
      plain = [];
    };
    for (const step of scene.steps) {
      if (step.terminal === undefined) {
        plain.push(step.command);
        continue;
      }
      await runPlain();
      const { child, ended } = launch(step.command, step.terminal);
      terminals.push({ ended, step });
      await ready(child, ended);
    }
    await runPlain();
    for (const terminal of terminals) {
      const code = await terminal.ended;
      if (code !== 0) throw new Error(`'${terminal.step.command}' ended with ${code}:\n${sink.join('')}`);
    }
  } finally {
    clearTimeout(deadline);
  }
  if (overran)
    throw new Error(
      `the scene did not end within 240 s (add --count, or skip it with a reason):\n${sink.join('')}`,
    );
  const terminalOutput = new Map([...printed].map(([terminal, own]) => [terminal, own.join('')]));
  return { output: sink.join(''), terminals: terminalOutput, exitCode };
}

describe.each(readmes)('%s', (readme) => {
  const list = scenes(join(repo, readme));
  const { outputs } = blocks(join(repo, readme));
  const runnable = list.filter((scene) => !scene.skip);
  test(`names a reason for every scene it does not run (${list.length - runnable.length} of ${list.length})`, () => {
    for (const scene of list) if (scene.skip) expect(scene.skip.length).toBeGreaterThan(10);
  });
  if (runnable.length === 0) return;
  test.each(
    runnable.map((scene) => [`line ${scene.line}: ${scene.steps[0]?.command ?? ''}`, scene] as const),
  )(
    'runs as written: %s',
    async (_name, scene) => {
      const ran = await play(scene);
      expect({ exitCode: ran.exitCode, output: ran.output }).toMatchObject({ exitCode: scene.exitCode });
      for (const pattern of scene.expect) expect(ran.output).toMatch(pattern);
      // Each output block the README shows for this run: its lines, in order, in what was printed.
      const index = list.indexOf(scene);
      for (const block of outputs.filter((output) => output.kind === 'checked' && output.scene === index)) {
        const printed = block.terminal === undefined ? ran.output : (ran.terminals.get(block.terminal) ?? '');
        const missing = missingLine(block.body, printed, block.masks);
        if (missing !== undefined)
          throw new Error(
            `${readme}:${block.line} shows '${missing}', which ${block.terminal === undefined ? 'the run' : `terminal ${block.terminal}`} did not print (in that order). It printed:\n${printed}`,
          );
      }
      expect(ran.output).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
    },
    300_000,
  );
});
