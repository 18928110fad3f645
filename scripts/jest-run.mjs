// What npm test, test:rabbitmq4 and test:cluster share: run jest with the course's Node options,
// then count what passed and failed from its JSON report, so each can end with one plain line.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const jest = join(dirname(createRequire(import.meta.url).resolve('jest/package.json')), 'bin', 'jest.js');

/**
 * Runs jest with `args`; returns its exit status and the tests that passed and failed. Put
 * --selectProjects last: it takes every word after it as a project name.
 */
export function runJest(args, { env = {}, cwd } = {}) {
  const report = join(tmpdir(), `jest-${process.pid}-${Date.now()}.json`);
  const result = spawnSync(process.execPath, [jest, '--json', '--outputFile', report, ...args], {
    stdio: 'inherit',
    cwd,
    env: {
      ...process.env,
      ...env,
      // Jest runs the TypeScript sources as ES modules.
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings`.trim(),
    },
  });
  try {
    const counts = JSON.parse(readFileSync(report, 'utf8'));
    rmSync(report);
    return {
      status: result.status ?? 1,
      passed: counts.numPassedTests,
      failed: counts.numFailedTests + counts.numRuntimeErrorTestSuites,
    };
  } catch {
    return { status: result.status ?? 1, passed: 0, failed: 1 }; // jest did not even write its report
  }
}

/** The last line of every test command: one plain count for a reader or a script. */
export function printCounts(passed, failed) {
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
}
