// npm test: the lesson tests, then the tests that restart the broker, alone, so they cannot disturb
// the others. Extra arguments go to jest (npm test -- 02-work-queues).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const jest = join(dirname(createRequire(import.meta.url).resolve('jest/package.json')), 'bin', 'jest.js');
const extra = process.argv.slice(2);
const env = {
  ...process.env,
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings`.trim(),
};
let status = 0;
for (const project of ['lessons', 'broker-restart']) {
  // The broker-restart files each stop or squeeze the broker: one at a time, never side by side.
  const serial = project === 'broker-restart' ? ['--runInBand'] : [];
  const args = [jest, '--selectProjects', project, '--passWithNoTests', ...serial, ...extra];
  const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
  status ||= result.status ?? 1;
}
process.exitCode = status;
