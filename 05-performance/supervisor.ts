// run-experiment's children: a producer or consumer of this lesson started as its own process,
// its CSV (stdout) written to a file, each line counted for the progress bar, stopped once on
// Ctrl+C, and its end turned into one sentence when it fails.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { CourseError } from '../shared/errors.ts';
import { repoRoot } from '../shared/repo-root.ts';

/**
 * Starts a program in its own process group, so a Ctrl+C in the terminal reaches only this
 * process, which then sends each child exactly one SIGINT (a second would make it skip its final
 * acks, confirm waits and CSV flush). The broker URL goes in the environment: a password on a
 * command line is visible to every user in `ps`.
 */
export function startChild(
  program: string,
  args: string[],
  url: string,
  stdoutFile: string,
  signal: AbortSignal,
  onLine: () => void,
) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, '05-performance', `${program}.ts`), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, AMQP_URL: url },
    },
  );
  const stop = () => child.kill('SIGINT');
  signal.addEventListener('abort', stop, { once: true });
  // A second Ctrl+C ends this process at once (process.exit), and the children, in their own group,
  // would run on unseen: they get a SIGTERM, their second interrupt, and end at once as well.
  const orphaned = () => child.kill('SIGTERM');
  process.once('exit', orphaned);
  const file = createWriteStream(stdoutFile);
  const written = once(file, 'close'); // listened for now: it may close before the child's 'close'
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) onLine();
  });
  child.stdout.pipe(file);
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = (async () => {
    const [code] = (await once(child, 'close')) as [number | null];
    signal.removeEventListener('abort', stop);
    process.off('exit', orphaned);
    await written.catch(() => {});
    if (code !== 0 && !(code === 130 && signal.aborted)) {
      const sentence =
        stderr
          .trim()
          .split('\n')
          .filter((line) => !/^\s*\[/.test(line))
          .pop() ?? `exit code ${code}`;
      throw new CourseError(`The ${program} stopped (exit ${code}): ${sentence}`, { code: 'RUN_FAILED' });
    }
    return stderr;
  })();
  return { child, done };
}
