// npm run course (or npm start): the lessons with your progress; open one to run a program, read
// its README, or check it. Without a terminal it prints the list and exits.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { select } from '@inquirer/prompts';
import { chalkStderr as chalk } from 'chalk';
import { isInteractive, openInBrowser } from '../shared/prompts.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { type Lesson, lessons } from './lessons.ts';
import { readProgress } from './progress.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

export function lessonList(): string {
  const progress = readProgress();
  return lessons()
    .map((lesson) => {
      const check = progress[lesson.number];
      const mark = check?.ok ? chalk.green('✓') : check ? chalk.red('✗') : '•';
      const note = check
        ? chalk.gray(
            ` (checked ${check.at.slice(0, 10)}: ${check.passed} passed${check.failed ? `, ${check.failed} failed` : ''})`,
          )
        : '';
      // Lessons 08 on need only 01-02: the menu says so where they begin.
      const part =
        lesson.number === '08'
          ? `${chalk.bold('Part II: you can take lessons 08 and up after lesson 02')}\n`
          : '';
      return `${part}${mark} ${lesson.number}  ${lesson.title}${note}`;
    })
    .join('\n');
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', cwd: repoRoot });
    const ignore = () => {}; // Ctrl+C belongs to the program: it closes cleanly, then we are back
    process.on('SIGINT', ignore);
    child.on('close', (code) => {
      process.off('SIGINT', ignore);
      resolve(code ?? 1);
    });
  });
}

async function openLesson(lesson: Lesson): Promise<void> {
  for (;;) {
    say(`\n${chalk.bold(lesson.title)}\n${lesson.summary}\n`);
    const action = await select({
      message: `Lesson ${lesson.number}:`,
      choices: [
        ...lesson.programs.map((program) => ({ value: `run:${program}`, name: `Run ${program}` })),
        { value: 'readme', name: 'Open the README' },
        { value: 'check', name: 'Check this lesson' },
        { value: 'back', name: 'Back to the lessons' },
      ],
    });
    if (action === 'back') return;
    if (action === 'readme')
      say(
        (await openInBrowser(join(repoRoot, lesson.folder, 'README.md'))) === 'opened'
          ? `Opened ${lesson.folder}/README.md.`
          : `No desktop viewer here: read ${lesson.folder}/README.md in your editor, or run: less ${lesson.folder}/README.md`,
      );
    else if (action === 'check')
      await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/check.ts'), lesson.number]);
    else {
      const program = action.slice(4);
      say(chalk.gray(`$ npm run lesson:${lesson.number} -- ${program}   (Ctrl+C to stop it)`));
      await run(process.execPath, ['--import', 'tsx', join(repoRoot, lesson.folder, `${program}.ts`)]);
    }
  }
}

if (!isInteractive()) {
  say(lessonList());
  say('\nRun npm run course in a terminal to open a lesson, or npm run lesson:NN -- <program>.');
} else {
  try {
    for (;;) {
      say(
        `\n${chalk.bold('RabbitMQ by running it')}  ${chalk.gray('(✓ checked, ✗ check failed, • not yet)')}`,
      );
      const progress = readProgress();
      const choice = await select({
        message: 'Which lesson?',
        choices: [
          ...lessons().map((lesson) => ({
            value: lesson.number,
            name: `${progress[lesson.number]?.ok ? '✓' : progress[lesson.number] ? '✗' : '•'} ${lesson.number}  ${lesson.title}`,
          })),
          { value: 'exit', name: 'Exit' },
        ],
      });
      if (choice === 'exit') break;
      await openLesson(lessons().find((lesson) => lesson.number === choice)!);
    }
  } catch (error) {
    if ((error as Error).name !== 'ExitPromptError') throw error; // Ctrl+C at a menu: just leave
  }
}
