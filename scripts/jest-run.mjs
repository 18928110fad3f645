// What npm test, test:rabbitmq4 and test:cluster share: run jest with the course's Node options,
// then count what passed and failed from its JSON report, so each can end with one plain line.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const jest = join(dirname(createRequire(import.meta.url).resolve('jest/package.json')), 'bin', 'jest.js');

/**
 * The command that runs jest with `args` and writes its JSON report to `report`, for a caller that
 * spawns it itself (test:cluster, which must stop it when interrupted). Put --selectProjects last:
 * it takes every word after it as a project name.
 */
export function jestCommand(
  args,
  { env = {}, report = join(tmpdir(), `jest-${process.pid}-${Date.now()}.json`) } = {},
) {
  return {
    command: process.execPath,
    args: [jest, '--json', '--outputFile', report, ...args],
    env: {
      ...process.env,
      ...env,
      // Jest runs the TypeScript sources as ES modules.
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings`.trim(),
    },
    report,
  };
}

/** The tests that passed and failed, from jest's report (removed once read). */
export function jestCounts(report, status) {
  try {
    const counts = JSON.parse(readFileSync(report, 'utf8'));
    rmSync(report);
    return {
      status,
      passed: counts.numPassedTests,
      failed: counts.numFailedTests + counts.numRuntimeErrorTestSuites,
    };
  } catch {
    return { status, passed: 0, failed: 1 }; // jest did not even write its report
  }
}

/** Runs jest with `args`; returns its exit status and the tests that passed and failed. */
export function runJest(args, { env = {}, cwd } = {}) {
  const run = jestCommand(args, { env });
  const result = spawnSync(run.command, run.args, { stdio: 'inherit', cwd, env: run.env });
  return jestCounts(run.report, result.status ?? 1);
}

/** The last line of every test command: one plain count for a reader or a script. */
export function printCounts(passed, failed) {
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
}
