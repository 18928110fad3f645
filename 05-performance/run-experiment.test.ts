// run-experiment's promises around its children: the broker named by --url is the one it cleans up,
// a Ctrl+C in the terminal stops the children once and cleanly (their CSVs complete, exit 130), and
// the URL never appears on a child's command line.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from '@jest/globals';
import { managementAuth } from '../shared/config.ts';
import { brokerUrls } from '../shared/connection.ts';
import { SIGNAL_COPY_WINDOW_MS } from '../shared/program.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { eventually, start } from '../test/testing.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'lesson05-run-'));
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);

async function queuesNamed(prefix: string): Promise<string[]> {
  const { base, authorization } = managementAuth();
  const response = await fetch(`${base}/api/queues?columns=name`, { headers: { authorization } });
  const queues = (await response.json()) as { name: string }[];
  return queues.map((q) => q.name).filter((name) => name.startsWith(prefix));
}

/** A process's state from /proc: 'T' stopped, 'Z' a zombie (an orphan not reaped yet), 'gone'… */
function state(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const letter = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3); // after (comm)
    return letter === 'T' || letter === 'Z' ? letter : 'running';
  } catch {
    return 'gone';
  }
}

/** Whether a signal waits to be handled (the process is stopped, so it stays pending). */
function pending(pid: number, signal: 'SIGINT' | 'SIGTERM'): boolean {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const bit = 1n << BigInt(constants.signals[signal] - 1);
  return ['SigPnd', 'ShdPnd'].some(
    (field) => (BigInt(`0x${new RegExp(`${field}:\\s*([0-9a-f]+)`).exec(status)?.[1] ?? '0'}`) & bit) !== 0n,
  );
}

/** run-experiment in its own process group, as a terminal's foreground job: Ctrl+C goes to the group. */
function startInTerminal(out: string) {
  const args = ['reference', '--scale', '100', '--out', out, '--url', brokerUrls()[0]!];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, '05-performance/run-experiment.ts'), ...args],
    {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    },
  );
  const output = { stderr: '' };
  child.stderr.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = once(child, 'close') as Promise<[number | null]>;
  const producerCsv = join(out, 'reference', 'producer.csv');
  const underWay = () =>
    eventually(async () => existsSync(producerCsv) && statSync(producerCsv).size > 100_000, 'rows');
  // The lesson's programs among its children (tsx's esbuild service is one too).
  const childPids = () =>
    execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => /05-performance\/(producer|consumer)\.ts/.test(line))
      .map((line) => Number.parseInt(line, 10));
  return { child, output, exited, producerCsv, underWay, childPids };
}

describe('run-experiment', () => {
  test('with --url, it deletes its queue on that broker, not on AMQP_URL’s', async () => {
    const out = scratch();
    const run = start(
      '05-performance/run-experiment',
      ['reference', '--scale', '0.1', '--out', out, '--url', brokerUrls()[0]!],
      { AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }, // nothing listens there
    );
    const exit = await run.exited;
    expect({ code: exit.code, stderr: exit.stderr }).toMatchObject({ code: 0 });
    expect(readFileSync(join(out, 'reference', 'summary.csv'), 'utf8')).toMatch(/^latency_ms,100,/m);
    expect(readFileSync(join(out, 'reference', 'report.html'), 'utf8')).toContain(
      'reference: 1 producer – 1 consumer, messages of 1000 B, no batching (100 messages)',
    );
    // Its own queue only: a queue another run left behind on this broker is not this run's doing.
    expect(await queuesNamed('perf-reference-')).not.toContain(`perf-reference-${run.child.pid}`);
  });

  test('Ctrl+C in the terminal: the children get one SIGINT, finish their CSVs, and it exits 130; the URL is not on their command line', async () => {
    const out = scratch();
    const { child, output, exited, producerCsv, underWay } = startInTerminal(out);
    try {
      await underWay();
      const commandLines = execFileSync('ps', ['-o', 'args=', '--ppid', String(child.pid)], {
        encoding: 'utf8',
      });
      expect(commandLines).toMatch(/producer\.ts/);
      expect(commandLines).not.toMatch(/guest:guest@|--url/);
      process.kill(-child.pid!, 'SIGINT'); // what the terminal does on Ctrl+C
      const [code] = await exited;
      expect({ code, stderr: output.stderr }).toMatchObject({ code: 130 });
      const log = readFileSync(join(out, 'reference', 'run.log'), 'utf8');
      expect(log).not.toMatch(/Second interrupt/);
      const confirmed = Number(/producer: (\d+) messages/.exec(log)?.[1]);
      const consumed = Number(/consumer: (\d+) messages/.exec(log)?.[1]);
      expect(confirmed).toBeGreaterThan(0);
      expect(confirmed).toBeLessThan(100_000);
      expect(lines(producerCsv)).toBe(confirmed); // every confirmed row flushed
      expect(lines(join(out, 'reference', 'consumer.csv'))).toBe(consumed);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });

  test('a second Ctrl+C ends it at once, and its children with it: none runs on unseen', async () => {
    const out = scratch();
    const { child, output, exited, underWay, childPids } = startInTerminal(out);
    let pids: number[] = [];
    try {
      await underWay();
      pids = childPids();
      expect(pids.length).toBe(2); // the producer and the consumer
      // Frozen, the children keep what they are sent pending, where /proc shows it: without this,
      // their clean stop after the first Ctrl+C could end them before the second is pressed.
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      await eventually(async () => pids.every((pid) => state(pid) === 'T'), 'the children frozen');
      process.kill(-child.pid!, 'SIGINT');
      await eventually(async () => pids.every((pid) => pending(pid, 'SIGINT')), 'the first stop sent on');
      await sleep(SIGNAL_COPY_WINDOW_MS); // sooner, it would be a copy of the first (program.ts)
      process.kill(-child.pid!, 'SIGINT'); // the impatient second Ctrl+C
      const [code] = await exited;
      expect(code).toBe(130);
      expect(output.stderr).toMatch(/Second interrupt: exiting now/);
      expect(pids.filter((pid) => !pending(pid, 'SIGTERM'))).toEqual([]); // their second interrupt
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      await eventually(
        async () => pids.every((pid) => ['Z', 'gone'].includes(state(pid))),
        'every child ended',
      );
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      for (const pid of pids.filter((pid) => state(pid) !== 'gone')) process.kill(pid, 'SIGKILL');
    }
  });
});
