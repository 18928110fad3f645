// npm run lesson:NN [-- program [flags]]: runs one program of a lesson; asks which when none is named.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import { select } from '@inquirer/prompts';
import { repoRoot } from '../shared/repo-root.ts';
import { lesson, lessons } from './lessons.ts';

const [number = '', name, ...args] = process.argv.slice(2);
const found = lesson(number);
if (!found) {
  process.stderr.write(
    `There is no lesson ${number}: run npm run lesson:01 … lesson:${lessons().at(-1)?.number ?? '01'}.\n`,
  );
  process.exit(2);
}

const listing = `${found.title}\nPrograms: ${found.programs.join(', ')}\nRun one with: npm run lesson:${found.number} -- <program> [flags]   (add --help to see its flags)\n`;
if (name === '--help' || name === '-h') {
  process.stdout.write(listing);
  process.exit(0);
}
let program = name;
if (!program) {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    process.stderr.write(listing);
    process.exit(2);
  }
  try {
    program = await select({
      message: `Lesson ${found.number}: which program do you want to run?`,
      choices: found.programs.map((value) => ({ value, name: value })),
    });
  } catch {
    process.exit(130); // Ctrl+C at the prompt
  }
}
if (!found.programs.includes(program)) {
  process.stderr.write(
    `Lesson ${found.number} has no program '${program}': choose one of ${found.programs.join(', ')}.\n`,
  );
  process.exit(2);
}

// The program handles Ctrl+C itself (it closes cleanly); the menu only passes signals on and then
// its exit code. A terminal's Ctrl+C reaches the program directly too: runMain counts the copies of
// one signal as one. (package.json starts this with `exec tsx`: without exec, npm's sh dies of the
// signal, and npm returns to the prompt before the program has said Goodbye.)
process.on('SIGINT', () => child.kill('SIGINT'));
process.on('SIGTERM', () => child.kill('SIGTERM'));
const child = spawn(
  process.execPath,
  ['--import', 'tsx', join(repoRoot, found.folder, `${program}.ts`), ...args],
  {
    stdio: 'inherit',
  },
);
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 128 + constants.signals[signal] : 1);
});
