// npm test: the lesson tests, then the fault drills (each on a private node of its own), then the
// tests that restart a broker, alone, then every README command as written (alone, last).
// Extra arguments go to jest (npm test -- 02-work-queues). Ends with one plain line,
// "N passed, N failed", for all the runs together.
import { printCounts, runJest } from './jest-run.mjs';

const extra = process.argv.slice(2);
let status = 0;
let passed = 0;
let failed = 0;
for (const project of ['lessons', 'drills', 'broker-restart', 'readme']) {
  // The broker-restart files each stop or squeeze a broker, and the README scenes use the lessons'
  // default queue names: one file at a time, never side by side.
  const serial = project === 'broker-restart' || project === 'readme' ? ['--runInBand'] : [];
  const run = runJest([...extra, ...serial, '--passWithNoTests', '--selectProjects', project]);
  status ||= run.status;
  passed += run.passed;
  failed += run.failed;
}
printCounts(passed, failed);
process.exitCode = status;
