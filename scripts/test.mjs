// npm test: the lesson tests, then the tests that restart the broker, alone, so they cannot disturb
// the others. Extra arguments go to jest (npm test -- 02-work-queues). Ends with one plain line,
// "N passed, N failed", for both runs together.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const jest = join(dirname(createRequire(import.meta.url).resolve('jest/package.json')), 'bin', 'jest.js');
const extra = process.argv.slice(2);
const env = {
  ...process.env,
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings`.trim(),
};
let status = 0;
let passed = 0;
let failed = 0;
for (const project of ['lessons', 'broker-restart']) {
  // The broker-restart files each stop or squeeze the broker: one at a time, never side by side.
  const serial = project === 'broker-restart' ? ['--runInBand'] : [];
  const report = join(tmpdir(), `jest-${project}-${process.pid}.json`);
  const args = [
    jest,
    '--selectProjects',
    project,
    '--passWithNoTests',
    '--json',
    '--outputFile',
    report,
    ...serial,
    ...extra,
  ];
  const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
  status ||= result.status ?? 1;
  try {
    const counts = JSON.parse(readFileSync(report, 'utf8'));
    passed += counts.numPassedTests;
    failed += counts.numFailedTests + counts.numRuntimeErrorTestSuites;
    rmSync(report);
  } catch {
    failed++; // jest did not even write its report
  }
}
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = status;
