// The scenes of npm run screenshots, one per lesson. Each types its README's commands (the
// blocks marked for its picture, see commands.ts) into one terminal per terminal the README names,
// waits for what the README's picture shows, and leaves the broker (and lesson 06's table) as it
// found them.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectDatabase } from '../../06-scheduled-jobs/postgres.ts';
import { repoRoot } from '../../shared/repo-root.ts';
import { launchBrowser } from '../browser.ts';
import { deleteExchange, deleteQueues, exchangeExists } from './broker.ts';
import { defineScene, type Scene } from './commands.ts';
import {
  managementPage,
  managementPicture,
  managementQueues,
  queueShows,
  statisticsShow,
} from './management.ts';
import { film, out, say, wrote } from './pictures.ts';
import { sleep, stripColours } from './terminals.ts';

export const scenes: Scene[] = [
  // README "Run it": receive --count 2 in terminal 1; two sends in terminal 2.
  defineScene({
    lesson: '01-hello-world',
    picture: '01-hello-world.png',
    commands: { receive: /-- receive/, send: /-- send$/, sendAgain: /-- send --message/ },
    async make(c) {
      await deleteQueues('hello');
      await film('01-hello-world.png', 76, 16, 2, async (t) => {
        const receive = await t.run('terminal 1 — receive', c.receive);
        await t.waitFor(receive, /Waiting for messages/);
        const send = await t.run('terminal 2 — send', c.send);
        await t.waitFor(send, /Sent 'Hello World!'/);
        await t.waitForExit(send);
        t.type(send, c.sendAgain);
        await t.waitForExit(receive); // after two messages
        await t.waitForExit(send);
      });
      await deleteQueues('hello');
    },
  }),

  // README "Run it": two workers with --count 5, then new-task --count 10 --dots 3.
  defineScene({
    lesson: '02-work-queues',
    picture: '02-work-queues.png',
    commands: { workerA: /worker --name A/, workerB: /worker --name B/, newTask: /-- new-task/ },
    async make(c) {
      await deleteQueues('task_queue');
      await film('02-work-queues.png', 88, 17, 2, async (t) => {
        const a = await t.run('terminal 1 — worker A', c.workerA);
        const b = await t.run('terminal 2 — worker B', c.workerB);
        await t.waitFor(a, /waiting for tasks/);
        await t.waitFor(b, /waiting for tasks/);
        const send = await t.run('terminal 3 — new-task', c.newTask);
        await t.waitFor(send, /confirmed all 10 tasks/);
        for (const target of [send, a, b]) await t.waitForExit(target);
      });
      await deleteQueues('task_queue');
    },
  }),

  // README "Run it": three listening workers with no flags, then the emitter (answered N: the
  // admin panel is photographed below, logged in).
  defineScene({
    lesson: '03-multiple-consumers',
    picture: '03-multiple-consumers.png',
    commands: {
      A: /listening-worker --name A/,
      B: /listening-worker --name B/,
      C: /listening-worker --name C/,
      emitter: /-- emitter-of-tasks/,
    },
    async make(c) {
      await deleteQueues('task_queue3');
      const browser = await launchBrowser();
      try {
        await film('03-multiple-consumers.png', 100, 30, 2, async (t) => {
          const workers: string[] = [];
          for (const [i, name] of (['A', 'B', 'C'] as const).entries())
            workers.push(await t.run(`terminal ${i + 1} — listening-worker ${name}`, c[name]));
          for (const w of workers) await t.waitFor(w, /listening on task_queue3/);
          const emitter = await t.run('terminal 4 — emitter-of-tasks', c.emitter);
          await t.waitFor(emitter, /Would you like to monitor/);
          t.type(emitter, 'n');
          await t.waitFor(emitter, /Sent 20 rows/);
          await statisticsShow('task_queue3');
          await managementQueues(browser, join(out, '03-management-ui.png'));
          wrote('03-management-ui.png');
          // Until the 20-second row is done: by then the other two workers have taken many rows.
          const panes = () => workers.map((w) => stripColours(t.capture(w))).join('\n');
          const deadline = Date.now() + 90_000;
          while (!/done #3 /.test(panes()) && Date.now() < deadline) await sleep(200);
        });
      } finally {
        await browser.close();
      }
      await deleteQueues('task_queue3');
    },
  }),

  // README "Run it: three scenarios": monitor, slow-consumer, fast-producer, no flags; filmed once
  // the queue is full and the producer has backed off to its minimum.
  defineScene({
    lesson: '04-pace-matching',
    picture: '04-pace-matching.png',
    commands: { monitor: /-- monitor/, consumer: /-- slow-consumer/, producer: /-- fast-producer/ },
    async make(c) {
      await deleteQueues('pace_queue', 'pace_queue.dead');
      const hadEvents = await exchangeExists('pace.events');
      await film('04-pace-matching.png', 96, 18, 2, async (t) => {
        const monitor = await t.run('terminal 1 — monitor', c.monitor);
        await t.waitFor(monitor, /Pace monitor/);
        const consumer = await t.run('terminal 2 — slow-consumer', c.consumer);
        await t.waitFor(consumer, /Consuming pace_queue/);
        const producer = await t.run('terminal 3 — fast-producer', c.producer);
        await t.waitFor(producer, /target rate 1000 → 500/);
        await t.waitFor(producer, /target rate .* → 50 msg\/s/);
        // The monitor's rates once the management API has sampled them twice.
        await t.waitFor(monitor, /publish[^\n]*\d[^\n]*\/s/);
        await t.waitFor(producer, /target 50\/s confirmed/);
        await t.waitFor(monitor, /producer target\s+50 msg\/s/);
      });
      await deleteQueues('pace_queue', 'pace_queue.dead');
      if (!hadEvents) await deleteExchange('pace.events');
    },
  }),

  // README "Run it on one machine": its five lines, as written, then the report.html it made.
  defineScene({
    lesson: '05-performance',
    picture: '05-report.png',
    commands: {
      mkdir: /^mkdir /,
      consumer: /-- consumer /,
      producer: /-- producer /,
      wait: /^wait$/,
      report: /-- process-results /,
    },
    async make(c) {
      const report = /--out (\S+)/.exec(c.report)?.[1] ?? 'results/run1';
      const made = ['results/consumer.csv', 'results/producer.csv', report].map((f) => join(repoRoot, f));
      const existing = made.filter((f) => existsSync(f));
      if (existing.length) {
        say(`  skipped: ${existing.join(', ')} exist already; move them away to make 05-report.png.`);
        return;
      }
      await deleteQueues('perf_queue');
      const hadResults = existsSync(join(repoRoot, 'results'));
      try {
        const recipe = [c.mkdir, c.consumer, c.producer, c.wait, c.report].join('\n');
        execFileSync('bash', ['-e', '-c', recipe], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage({ viewport: { width: 800, height: 1000 } });
          await page.goto(pathToFileURL(join(repoRoot, report, 'report.html')).href);
          await page.screenshot({ path: join(out, '05-report.png'), fullPage: true });
          wrote('05-report.png');
        } finally {
          await browser.close();
        }
      } finally {
        for (const f of made) rmSync(f, { recursive: true, force: true });
        if (!hadResults) rmSync(join(repoRoot, 'results'), { recursive: true, force: true });
        await deleteQueues('perf_queue');
      }
    },
  }),

  // README "Run it": the subscriber, publisher A and 100,000 jobs; then publishers B … E and
  // another 100,000 jobs, typed again in the enqueue terminal.
  defineScene({
    lesson: '06-scheduled-jobs',
    picture: '06-scheduled-jobs.png',
    commands: {
      subscriber: /-- subscriber /,
      A: /publisher --name A /,
      B: /publisher --name B /,
      C: /publisher --name C /,
      D: /publisher --name D /,
      E: /publisher --name E /,
      enqueue: /-- enqueue /,
    },
    async make(c) {
      const db = await connectDatabase({ name: 'screenshots' });
      // The rows it adds are deleted after; a table the lesson creates here stays (its schema.sql).
      const exists = (await db.query("SELECT to_regclass('jobs') IS NOT NULL AS yes")).rows[0].yes as boolean;
      const before = exists
        ? Number((await db.query('SELECT coalesce(max(id), 0) AS id FROM jobs')).rows[0].id)
        : 0;
      try {
        await film('06-scheduled-jobs.png', 84, 10, 2, async (t) => {
          const subscriber = await t.run('terminal 1 — subscriber', c.subscriber);
          await t.waitFor(subscriber, /Subscribed to job/);
          const a = await t.run('terminal 2 — publisher A', c.A);
          await t.waitFor(a, /publishing due jobs/);
          const enqueue = await t.run('terminal 3 — enqueue', c.enqueue);
          await t.waitFor(enqueue, /enqueued 100000 jobs/);
          await t.waitFor(subscriber, /\b100000 jobs/);
          const more: string[] = [];
          for (const [i, name] of (['B', 'C', 'D', 'E'] as const).entries())
            more.push(await t.run(`terminal ${i + 4} — publisher ${name}`, c[name]));
          for (const p of more) await t.waitFor(p, /publishing due jobs/);
          t.type(enqueue, c.enqueue);
          await t.waitFor(subscriber, /\b200000 jobs/);
          // Each publisher's last status line (every 5 s) once the batch is done: its share, at 0 jobs/min.
          for (const p of [a, ...more]) await t.waitFor(p, /: [1-9]\d* jobs published \(0 jobs\/min\)[^[]*$/);
        });
      } finally {
        await db.query('DELETE FROM jobs WHERE id > $1', [before]);
        await db.end();
      }
    },
  }),

  // README "Drill: kill the leader mid-run": the cluster up (terminal 2), the drill in one program
  // with the killed node left down (terminal 1), then the cluster's status and the node's return.
  defineScene({
    lesson: '07-clusters',
    picture: '07-clusters.png',
    commands: {
      up: /cluster -- up$/,
      drill: /-- drill /,
      status: /cluster -- status$/,
      start: /cluster -- start 1$/,
    },
    async make(c) {
      await film('07-clusters.png', 124, 27, 1, async (t) => {
        const cluster = await t.run('terminal 2 — the cluster', c.up);
        await t.waitForExit(cluster, 240);
        const drill = await t.run('terminal 1 — drill', c.drill);
        await t.waitForExit(drill, 240);
        t.type(cluster, `clear; ${c.status}`);
        await t.waitForExit(cluster, 60);
        t.type(cluster, c.start);
        await t.waitForExit(cluster, 240);
      });
    },
  }),
  // README "Run it": two receive-logs --count 3, then emit-log --count 3.
  defineScene({
    lesson: '08-publish-subscribe',
    picture: '08-publish-subscribe.png',
    commands: { receiver: /receive-logs --count 3/, emit: /emit-log --count 3 "info/ },
    async make(c) {
      const browser = await launchBrowser();
      try {
        await film('08-publish-subscribe.png', 92, 14, 3, async (t) => {
          const first = await t.run('terminal 1 — receive-logs', c.receiver);
          const second = await t.run('terminal 2 — receive-logs', c.receiver);
          await t.waitFor(first, /Waiting for logs/);
          await t.waitFor(second, /Waiting for logs/);
          // While both receivers wait: Things to try 1, the exchange and its two bindings.
          await managementPage(browser, join(out, '08-management-exchanges.png'), {
            hash: '#/exchanges',
            ready: ['amq.fanout', 'logs'],
            height: 560,
          });
          wrote('08-management-exchanges.png');
          await managementPage(
            browser,
            join(out, '08-management-bindings.png'),
            { hash: '#/exchanges/%2F/logs', open: 'Bindings', ready: ['This exchange'], height: 610 },
            '(document.body.innerText.match(/amq\\.gen-/g) ?? []).length >= 2',
          );
          wrote('08-management-bindings.png');
          const emit = await t.run('terminal 3 — emit-log', c.emit);
          await t.waitFor(emit, /confirmed all 3 lines/);
          for (const target of [emit, first, second]) await t.waitForExit(target);
        });
      } finally {
        await browser.close();
      }
      await deleteExchange('logs');
    },
  }),

  // README "Run it", direct: two receive-logs-direct, then three emit-log-direct in terminal 3.
  defineScene({
    lesson: '09-routing-and-topics',
    picture: '09-routing-and-topics.png',
    commands: {
      errors: /receive-logs-direct warning error --count 2/,
      all: /receive-logs-direct info warning error/,
      info: /emit-log-direct info/,
      warning: /emit-log-direct warning/,
      error: /emit-log-direct error/,
    },
    async make(c) {
      await film('09-routing-and-topics.png', 96, 14, 3, async (t) => {
        const errors = await t.run('terminal 1 — warning error', c.errors);
        const all = await t.run('terminal 2 — info warning error', c.all);
        await t.waitFor(errors, /Waiting for/);
        await t.waitFor(all, /Waiting for/);
        const emit = await t.run('terminal 3 — emit-log-direct', c.info);
        await t.waitForExit(emit);
        t.type(emit, c.warning);
        await t.waitForExit(emit);
        t.type(emit, c.error);
        for (const target of [emit, errors, all]) await t.waitForExit(target);
      });
      await deleteExchange('direct_logs');
    },
  }),

  // README "Run it": a server answering four requests, then one client and a client of three.
  defineScene({
    lesson: '10-rpc',
    picture: '10-rpc.png',
    commands: {
      server: /rpc-server --name A --count 4/,
      one: /rpc-client 30$/,
      three: /rpc-client 10 20 30/,
    },
    async make(c) {
      await film('10-rpc.png', 104, 14, 3, async (t) => {
        const server = await t.run('terminal 1 — rpc-server', c.server);
        await t.waitFor(server, /awaiting RPC requests/);
        const one = await t.run('terminal 2 — rpc-client 30', c.one);
        await t.waitForExit(one);
        const three = await t.run('terminal 3 — rpc-client 10 20 30', c.three);
        for (const target of [three, server]) await t.waitForExit(target);
      });
    },
  }),

  // README "Run it": 100 messages appended, read 40 then 60 by the same --name: no gap, no repeat.
  defineScene({
    lesson: '12-streams',
    picture: '12-streams.png',
    commands: {
      send: /offset-tracking-send --count 100$/,
      first: /offset-tracking-receive --count 40$/,
      second: /offset-tracking-receive --count 60$/,
    },
    async make(c) {
      // Deleting the stream deletes the offsets stored in it: the scene starts from nothing.
      await deleteQueues('stream-offset-tracking');
      await film('12-streams.png', 92, 12, 3, async (t) => {
        const send = await t.run('terminal 1 — offset-tracking-send', c.send);
        await t.waitForExit(send);
        const first = await t.run('terminal 2 — offset-tracking-receive --count 40', c.first);
        await t.waitForExit(first);
        const second = await t.run('terminal 3 — offset-tracking-receive --count 60', c.second);
        await t.waitForExit(second);
      });
      // Things to try: the stream in the management UI's Queues tab, typed `stream`, its count
      // taking in the offsets the readers stored (each is an entry in the log).
      await queueShows('stream-offset-tracking', (messages) => messages > 100);
      await managementPicture('12-management-streams.png', {
        hash: '#/queues',
        filter: { input: '#queues-name', text: 'stream-offset-tracking' },
        ready: ['filtered down to 1', 'stream'],
        height: 420,
      });
      await deleteQueues('stream-offset-tracking');
    },
  }),

  // README "Run it": a worker settling three tasks (one done, one flaky, one poison), then the tasks.
  defineScene({
    lesson: '11-dead-letters',
    picture: '11-dead-letters.png',
    commands: {
      worker: /worker --name A --retry-delays 1,2 --count 3/,
      tasks: /new-task 'resize photo'/,
    },
    async make(c) {
      const queues = ['dl_tasks', 'dl_tasks.parking-lot', 'dl_tasks.retry.1s', 'dl_tasks.retry.2s'];
      await deleteQueues(...queues);
      await film('11-dead-letters.png', 110, 16, 2, async (t) => {
        const worker = await t.run('terminal 1 — worker', c.worker);
        await t.waitFor(worker, /waiting for tasks/);
        const tasks = await t.run('terminal 2 — new-task', c.tasks);
        for (const target of [tasks, worker]) await t.waitForExit(target);
      });
      // Things to try: the lesson's queues in the management UI, the poison task in the lot.
      await queueShows('dl_tasks.parking-lot', 1);
      await managementPicture('11-management-queues.png', {
        hash: '#/queues',
        filter: { input: '#queues-name', text: 'dl_tasks' },
        ready: ['dl_tasks.parking-lot', 'dl_tasks.retry.2s'],
        height: 480,
      });
      await deleteQueues(...queues);
      await deleteExchange('dl_tasks.dlx');
    },
  }),
];
