// npm run test:rabbitmq4: the lesson tests again, against RabbitMQ 4 (npm run services -- rabbitmq4
// starts it first). Extra arguments go to jest (npm run test:rabbitmq4 -- 02-work-queues). Ends with
// one plain line, "N passed, N failed", like npm test.
//
// Only the `lessons` project: the broker-restart tests stop, restart or squeeze the broker with the
// installed rabbitmqctl, which talks to the main node, never to the one on 5682.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printCounts, runJest } from './jest-run.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'cli.mjs');

const up = spawnSync(process.execPath, [tsx, join(root, 'scripts', 'services.ts'), 'rabbitmq4'], {
  stdio: 'inherit',
});
if (up.status !== 0) {
  printCounts(0, 1);
  process.exit(up.status ?? 1);
}

const run = runJest([...process.argv.slice(2), '--selectProjects', 'lessons'], {
  cwd: root,
  env: {
    AMQP_URL: 'amqp://guest:guest@localhost:5682',
    RABBITMQ_MANAGEMENT_URL: 'http://localhost:15682',
    RABBITMQ_STREAM_URL: 'rabbitmq-stream://guest:guest@localhost:5562',
  },
});
printCounts(run.passed, run.failed);
process.exitCode = run.status;
