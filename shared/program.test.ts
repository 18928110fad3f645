// One signal is one signal (runMain, program.ts): however a learner starts a program, one Ctrl+C
// or SIGTERM gives the clean close and exit 130 or 143, promptly; a second one later exits at once.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from '@jest/globals';
import { repoRoot } from '../shared/repo-root.ts';
import { faultProxy } from '../test/fault-proxy.ts';
import { Running, uniqueName, useTestConnection, within } from '../test/testing.ts';
import { SIGNAL_COPY_WINDOW_MS } from './program.ts';

const rabbit = useTestConnection();

// The three ways the READMEs and a learner start lesson 01's receiver.
const ways: Record<string, (queue: string) => [string, string[]]> = {
  'npm run lesson:01 --': (queue) => [
    'npm',
    ['run', '--silent', 'lesson:01', '--', 'receive', '--queue', queue],
  ],
  'npx tsx': (queue) => ['npx', ['tsx', '01-hello-world/receive.ts', '--queue', queue]],
  'node --import tsx': (queue) => [
    process.execPath,
    ['--import', 'tsx', '01-hello-world/receive.ts', '--queue', queue],
  ],
};
type Way = 'npm run lesson:01 --' | 'npx tsx' | 'node --import tsx';

/** Ends whatever is left of a test's process group. */
function stop(group: number) {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Resolves once the process `pid` has ended (it may not be our child: npm's grandchild). */
async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}

/** Starts the receiver in a process group of its own, as a terminal does, and waits until it consumes. */
async function startReceiver(
  way: Way,
  env: NodeJS.ProcessEnv = {},
): Promise<{ receiver: Running; pid: number }> {
  const queue = rabbit.own(uniqueName('signals'));
  const [command, args] = ways[way]!(queue);
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const receiver = new Running(child);
  const first = await within(60, receiver, receiver.waitFor(/Waiting for messages/));
  // The pid ends the program's first line (its queue note, or this one).
  const pid = Number(
    /\(pid (\d+)\)/.exec(receiver.lines.find((line) => /\(pid \d+\)/.test(line)) ?? first)?.[1],
  );
  expect(pid).toBeGreaterThan(0);
  return { receiver, pid };
}

/** Sends `signal` where `target` says, then checks the clean close, the exit code and the time after Goodbye. */
async function oneSignal(way: Way, target: 'group' | 'printed pid', signal: 'SIGINT' | 'SIGTERM') {
  const { receiver, pid } = await startReceiver(way);
  const group = receiver.child.pid!;
  try {
    process.kill(target === 'group' ? -group : pid, signal);
    await within(30, receiver, receiver.waitFor(/Goodbye/));
    const goodbye = Date.now();
    const exit = await within(30, receiver, receiver.exited);
    await within(30, receiver, gone(pid));
    const afterGoodbye = Date.now() - goodbye;
    const output = exit.stdout + exit.stderr;
    // What the shell shows as $?: npx's own sh dies of the group's signal, so npx ends by it
    // (128 + its number for the shell); the others pass on the program's exit code.
    const shown = exit.code ?? 128 + constants.signals[exit.signal!];
    expect({ shown, output }).toMatchObject({ shown: signal === 'SIGINT' ? 130 : 143 });
    if (way !== 'npx tsx' || target === 'printed pid') expect(exit.signal).toBeNull();
    expect(output).not.toMatch(/Second interrupt/);
    expect(output).toMatch(signal === 'SIGINT' ? /Ctrl\+C: finishing/ : /SIGTERM: finishing/);
    expect(afterGoodbye).toBeLessThan(2000);
  } finally {
    stop(group);
  }
}

describe('one signal is one signal', () => {
  for (const way of Object.keys(ways) as Way[]) {
    test(`${way}: one SIGTERM to the process group (timeout, a closed terminal) closes cleanly, exit 143`, () =>
      oneSignal(way, 'group', 'SIGTERM'));
    test(`${way}: one Ctrl+C (SIGINT to the process group) closes cleanly, exit 130, within 2 s of Goodbye`, () =>
      oneSignal(way, 'group', 'SIGINT'));
    test(`${way}: kill -INT of the printed pid closes cleanly, exit 130, within 2 s of Goodbye`, () =>
      oneSignal(way, 'printed pid', 'SIGINT'));
  }
  test('npm run lesson:01 --: kill -TERM of the printed pid closes cleanly, exit 143', () =>
    oneSignal('npm run lesson:01 --', 'printed pid', 'SIGTERM'));

  test('a second Ctrl+C, pressed by a person after the first, exits at once', async () => {
    // A broker that stopped answering keeps the clean close waiting (up to 5 s for the cancel-ok):
    // the moment a person presses Ctrl+C again.
    const proxy = await faultProxy(5672);
    const { receiver, pid } = await startReceiver('node --import tsx', {
      AMQP_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
    });
    try {
      proxy.silence();
      process.kill(pid, 'SIGINT');
      await within(30, receiver, receiver.waitFor(/Ctrl\+C: finishing/));
      // A person's second press comes after the copy window (that is what tells it from a copy).
      await sleep(SIGNAL_COPY_WINDOW_MS + 100);
      const second = Date.now();
      process.kill(pid, 'SIGINT');
      const exit = await within(30, receiver, receiver.exited);
      expect({ code: exit.code, stderr: exit.stderr }).toMatchObject({ code: 130 });
      expect(exit.stderr).toMatch(/Second interrupt: exiting now/);
      expect(Date.now() - second).toBeLessThan(2000);
    } finally {
      stop(receiver.child.pid!);
      await proxy.close();
    }
  });
});
