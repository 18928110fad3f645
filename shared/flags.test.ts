// Forgetting `--` after `npm run lesson:NN`: npm keeps the flags for itself (flags.ts, flagsNpmTook).
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from '@jest/globals';
import { program as worker } from '../02-work-queues/worker.ts';
import { flagsNpmTook } from './flags.ts';
import { repoRoot } from './repo-root.ts';

// What npm exports for `npm run lesson:02 worker --name X --count 1`, beside settings of its own.
const npm = (settings: Record<string, string>): NodeJS.ProcessEnv => ({
  npm_lifecycle_event: 'lesson:02',
  npm_config_cache: '/root/.npm',
  npm_config_prefix: '/usr',
  npm_config_yes: 'true',
  ...Object.fromEntries(Object.entries(settings).map(([key, value]) => [`npm_config_${key}`, value])),
});

describe('flags npm took for itself', () => {
  test('--name X --count 1 without --: names both flags and gives the command with --', () => {
    expect(flagsNpmTook(worker, ['1'], npm({ name: 'X', count: 'true' }))).toBe(
      'npm kept --name, --count for itself, as there was no -- before them: run npm run lesson:02 -- worker --name X --count 1',
    );
  });

  test('--no-ack (npm exports ack as an empty string) and --count=2', () => {
    expect(flagsNpmTook(worker, [], npm({ ack: '', count: '2' }))).toBe(
      'npm kept --no-ack, --count for itself, as there was no -- before them: run npm run lesson:02 -- worker --no-ack --count 2',
    );
  });

  test('two flags whose values npm left behind: which is whose is unknown, so … stands for them', () => {
    expect(flagsNpmTook(worker, ['3', 'q'], npm({ count: 'true', queue: 'true' }))).toMatch(
      /run npm run lesson:02 -- worker --queue … --count …$/,
    );
  });

  test("npm's own settings, flags given after --, and programs not started by npm say nothing", () => {
    expect(flagsNpmTook(worker, ['--name', 'A'], npm({}))).toBeUndefined();
    expect(flagsNpmTook(worker, ['--name', 'A'], npm({ name: 'B' }))).toBeUndefined();
    expect(flagsNpmTook(worker, [], { npm_config_name: 'X' })).toBeUndefined();
  });

  test('the real npm run lesson:02 worker --name X --count 1: the sentence, exit 2, before any broker', () => {
    const run = spawnSync('npm', ['run', '--silent', 'lesson:02', 'worker', '--name', 'X', '--count', '1'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', AMQP_URL: 'amqp://127.0.0.1:1' },
    });
    expect({ status: run.status, stderr: run.stderr }).toMatchObject({ status: 2 });
    expect(run.stderr).toContain(
      'npm kept --name, --count for itself, as there was no -- before them: run npm run lesson:02 -- worker --name X --count 1',
    );
    expect(run.stderr).not.toMatch(/takes no arguments|\n\s+at /);
  });
});
