// npm run test:cluster: the drills on lesson 07's three-node cluster (every *.cluster.test.ts, lesson
// 05's leader drill too), in band (they kill nodes).
// Starts the cluster (npm run cluster -- up) and, if it was down before, stops it after. Extra
// arguments go to jest. Ends with one plain line, "N passed, N failed", as npm test does.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printCounts, runJest } from './jest-run.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cluster = (command) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'cluster.ts'), command], {
    stdio: 'inherit',
    cwd: root,
  }).status;

// Was it up? A node's pid file naming a live process says so without asking RabbitMQ.
const clusterDir = process.env.COURSE_CLUSTER_DIR ?? join(tmpdir(), 'rabbitmq-course-cluster');
const running = (n) => {
  const file = join(clusterDir, `course${n}`, 'pid');
  try {
    process.kill(Number(readFileSync(file, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
};
const wasUp = [1, 2, 3].some(running);

let status = cluster('up');
let passed = 0;
let failed = 0;
if (status === 0) {
  const run = runJest([...process.argv.slice(2), '--runInBand', '--selectProjects', 'cluster'], {
    cwd: root,
  });
  ({ status, passed, failed } = run);
} else {
  failed++; // the cluster did not come up: cluster.ts said why
}
if (!wasUp) cluster('down');
printCounts(passed, failed);
process.exitCode = status;
