// npm run test:cluster: the drills on lesson 07's three-node cluster (every *.cluster.test.ts, lesson
// 05's leader drill too), in band (they kill nodes).
// Starts the cluster (npm run cluster -- up) and, if it was down before, stops it after, also when
// interrupted (Ctrl-C, SIGTERM): see scripts/cluster-session.ts. Extra arguments go to jest. Ends
// with one plain line, "N passed, N failed", as npm test does.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';
import { jestCommand, jestCounts, printCounts } from './jest-run.mjs';

register(); // the session and the cluster tool are TypeScript
const { ClusterSession } = await import('./cluster-session.ts');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const session = await ClusterSession.open();
let status = await session.run(
  process.execPath,
  ['--import', 'tsx', join(root, 'scripts', 'cluster.ts'), 'up'],
  {
    cwd: root,
  },
);
let passed = 0;
let failed = 0;
if (status === 0) {
  const jest = jestCommand([...process.argv.slice(2), '--runInBand', '--selectProjects', 'cluster']);
  status = await session.run(jest.command, jest.args, { cwd: root, env: jest.env });
  ({ passed, failed } = jestCounts(jest.report, status));
} else {
  failed++; // the cluster did not come up: cluster.ts said why
}
await session.close();
printCounts(passed, failed);
process.exitCode ||= status;
