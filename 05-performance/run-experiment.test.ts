// run-experiment's promises around its children: the broker named by --url is the one it cleans up,
// a Ctrl+C in the terminal stops the children once and cleanly (their CSVs complete, exit 130), and
// the URL never appears on a child's command line.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { managementAuth } from '../shared/config.ts';
import { brokerUrls } from '../shared/connection.ts';
import { repoRoot } from '../shared/logger.ts';
import { eventually, start } from '../test/testing.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'lesson05-run-'));
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);

async function queuesNamed(prefix: string): Promise<string[]> {
  const { base, authorization } = managementAuth();
  const response = await fetch(`${base}/api/queues?columns=name`, { headers: { authorization } });
  const queues = (await response.json()) as { name: string }[];
  return queues.map((q) => q.name).filter((name) => name.startsWith(prefix));
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
    // Its own process group, as a terminal's foreground job: the terminal's Ctrl+C goes to the group.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, '05-performance/run-experiment.ts'),
        'reference',
        '--scale',
        '100',
        '--out',
        out,
        '--url',
        brokerUrls()[0]!,
      ],
      {
        cwd: repoRoot,
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, FORCE_COLOR: '0' },
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(child, 'close');
    try {
      const producerCsv = join(out, 'reference', 'producer.csv');
      await eventually(async () => existsSync(producerCsv) && statSync(producerCsv).size > 100_000, 'rows');
      const commandLines = execFileSync('ps', ['-o', 'args=', '--ppid', String(child.pid)], {
        encoding: 'utf8',
      });
      expect(commandLines).toMatch(/producer\.ts/);
      expect(commandLines).not.toMatch(/guest:guest@|--url/);
      process.kill(-child.pid!, 'SIGINT'); // what the terminal does on Ctrl+C
      const [code] = await exited;
      expect({ code, stderr }).toMatchObject({ code: 130 });
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
});
