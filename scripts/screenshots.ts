// npm run screenshots: makes every picture the READMEs show from real runs of the READMEs' own
// commands (same programs, same flags, one tmux window per terminal the README names). The
// terminals' screens are captured with colours and drawn to PNG by headless Chromium; lesson 05's
// report.html and the management UI are photographed directly. It uses the lessons' default queues
// (and lesson 06's jobs table), so it clears those queues first and deletes what it made after.
// `npm run screenshots -- 02 04` makes only those lessons' pictures.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { connectDatabase } from '../06-scheduled-jobs/postgres.ts';
import { managementAuth } from '../shared/config.ts';
import { brokerUrls } from '../shared/connection.ts';
import { ManagementClient } from '../shared/management.ts';
import { isEntryPoint } from '../shared/program.ts';
import { repoRoot } from '../shared/repo-root.ts';
import { launchBrowser } from './browser.ts';
import { type Pane, renderPanes } from './terminal-render.ts';

const out = join(repoRoot, 'screenshots');
const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The PNGs this run wrote, shrunk at the end: they are committed to git. */
const written: string[] = [];
const wrote = (file: string, size = '') => {
  written.push(join(out, file));
  say(`  screenshots/${file}${size}`);
};

/** 256 colours are plenty for terminal text and charts, at a third of the bytes (pngquant, if installed). */
function shrink(files: string[]) {
  if (!files.length) return;
  if (!existsSync('/usr/bin/pngquant')) {
    say(
      'pngquant is not installed, so the PNGs stay full-colour (apt-get install pngquant makes them 3× smaller).',
    );
    return;
  }
  execFileSync('pngquant', ['--force', '--ext', '.png', '--quality', '65-90', '--speed', '1', ...files]);
}

/** The screen without its colour codes (ESC [ … m), for matching text. */
const stripColours = (text: string) =>
  text.replaceAll(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');

class Terminals {
  private windows: string[] = [];
  constructor(
    private readonly session: string,
    readonly cols: number,
    readonly rows: number,
  ) {
    this.close(); // a session left over from an interrupted run
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', args, { encoding: 'utf8' });
  }

  /** Opens a terminal of cols × rows with a bare `$ ` prompt. */
  private open(title: string): string {
    // NPM_CONFIG_LOGLEVEL hides this machine's own npm config warnings; npm's `> lesson` banner stays.
    const env = ['NPM_CONFIG_LOGLEVEL=error', 'PS1=$ ', 'TERM=xterm-256color', 'FORCE_COLOR=1'].flatMap(
      (e) => ['-e', e],
    );
    const shell = 'bash --norc --noprofile';
    if (this.windows.length === 0) {
      this.tmux(
        'new-session',
        '-d',
        '-s',
        this.session,
        '-x',
        String(this.cols),
        '-y',
        String(this.rows),
        ...env,
        '-c',
        repoRoot,
        shell,
      );
    } else {
      this.tmux('new-window', '-d', '-t', this.session, ...env, '-c', repoRoot, shell);
    }
    const target = `${this.session}:${this.windows.length}`;
    this.windows.push(title);
    this.tmux('set-option', '-t', this.session, 'status', 'off');
    this.type(target, "PS1='$ '; clear");
    return target;
  }

  /** Opens a terminal and, once its shell shows a clean prompt, types `command` into it. */
  async run(title: string, command: string): Promise<string> {
    const target = this.open(title);
    await this.waitFor(target, /^\s*\$\s*$/);
    this.type(target, command);
    return target;
  }

  type(target: string, text: string, enter = true): void {
    this.tmux('send-keys', '-t', target, '-l', text);
    if (enter) this.tmux('send-keys', '-t', target, 'Enter');
  }

  capture(target: string): string {
    return this.tmux('capture-pane', '-p', '-e', '-t', target);
  }

  /** Waits until the terminal shows `pattern` (a script, not a test: it polls the screen). */
  async waitFor(target: string, pattern: RegExp, seconds = 90): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!pattern.test(stripColours(this.capture(target)))) {
      if (Date.now() > deadline)
        throw new Error(`${target} never showed ${pattern}:\n${this.capture(target)}`);
      await sleep(200);
    }
  }

  /** True once the terminal's shell runs nothing: every program typed into it has exited. */
  private idle(target: string): boolean {
    return this.tmux('display-message', '-p', '-t', target, '#{pane_current_command}').trim() === 'bash';
  }

  /** Waits until the program in `target` has exited by itself (its --count reached, its work done). */
  async waitForExit(target: string, seconds = 90): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!this.idle(target)) {
      if (Date.now() > deadline) throw new Error(`${target} never exited:\n${this.capture(target)}`);
      await sleep(200);
    }
  }

  panes(): Pane[] {
    return this.windows.map((title, i) => ({ title, text: this.capture(`${this.session}:${i}`) }));
  }

  /** Ctrl+C in every terminal still running a program, then waits until each has exited. */
  async stopAll(): Promise<void> {
    const targets = this.windows.map((_, i) => `${this.session}:${i}`);
    for (const target of targets) if (!this.idle(target)) this.tmux('send-keys', '-t', target, 'C-c');
    for (const target of targets) await this.waitForExit(target, 30);
  }

  close(): void {
    try {
      execFileSync('tmux', ['kill-session', '-t', this.session], { stdio: 'ignore' });
    } catch {
      // no such session
    }
  }
}

/** Deletes the queues (the lessons' defaults: the screenshots need them empty, and leave nothing). */
async function deleteQueues(...queues: string[]) {
  const connection = await amqp.connect(brokerUrls()[0]!);
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  for (const queue of queues) await channel.deleteQueue(queue).catch(() => {});
  await connection.close();
}

/** Whether the exchange exists now (a passive declare fails on a missing one and closes the channel). */
async function exchangeExists(exchange: string): Promise<boolean> {
  const connection = await amqp.connect(brokerUrls()[0]!);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    return await channel.checkExchange(exchange).then(
      () => true,
      () => false,
    );
  } finally {
    await connection.close().catch(() => {});
  }
}

async function deleteExchange(exchange: string) {
  const connection = await amqp.connect(brokerUrls()[0]!);
  const channel = await connection.createChannel();
  await channel.deleteExchange(exchange);
  await connection.close();
}

async function scene(
  file: string,
  cols: number,
  rows: number,
  columns: number,
  play: (t: Terminals) => Promise<void>,
) {
  const terminals = new Terminals(`shots-${process.pid}`, cols, rows);
  try {
    await play(terminals);
    const size = await renderPanes(terminals.panes(), cols, rows, join(out, file), columns);
    wrote(file, ` (${size.width} × ${size.height})`);
  } finally {
    await terminals.stopAll().catch((error: Error) => say(error.message));
    terminals.close();
  }
}

const scenes: Record<string, () => Promise<void>> = {
  // README "Run it": receive --count 2 in terminal 1; two sends in terminal 2.
  async '01-hello-world'() {
    await deleteQueues('hello');
    await scene('01-hello-world.png', 76, 12, 2, async (t) => {
      const receive = await t.run('terminal 1 — receive', 'npm run lesson:01 -- receive --count 2');
      await t.waitFor(receive, /Waiting for messages/);
      const send = await t.run('terminal 2 — send', 'npm run lesson:01 -- send');
      await t.waitFor(send, /Sent 'Hello World!'/);
      await t.waitForExit(send);
      t.type(send, "npm run lesson:01 -- send --message 'Hi there'");
      await t.waitForExit(receive); // after two messages
      await t.waitForExit(send);
    });
    await deleteQueues('hello');
  },

  // README "Run it": two workers with --count 5, then new-task --count 10 --dots 3.
  async '02-work-queues'() {
    await deleteQueues('task_queue');
    await scene('02-work-queues.png', 88, 17, 2, async (t) => {
      const a = await t.run('terminal 1 — worker A', 'npm run lesson:02 -- worker --name A --count 5');
      const b = await t.run('terminal 2 — worker B', 'npm run lesson:02 -- worker --name B --count 5');
      await t.waitFor(a, /waiting for tasks/);
      await t.waitFor(b, /waiting for tasks/);
      const send = await t.run('terminal 3 — new-task', 'npm run lesson:02 -- new-task --count 10 --dots 3');
      await t.waitFor(send, /confirmed all 10 tasks/);
      for (const target of [send, a, b]) await t.waitForExit(target);
    });
    await deleteQueues('task_queue');
  },

  // README "Run it": three listening workers with no flags, then the emitter (answered N: the
  // admin panel is photographed below, logged in).
  async '03-multiple-consumers'() {
    await deleteQueues('task_queue3');
    const browser = await launchBrowser();
    try {
      await scene('03-multiple-consumers.png', 100, 22, 2, async (t) => {
        const workers: string[] = [];
        for (const [i, name] of ['A', 'B', 'C'].entries())
          workers.push(
            await t.run(
              `terminal ${i + 1} — listening-worker ${name}`,
              `npm run lesson:03 -- listening-worker --name ${name}`,
            ),
          );
        for (const w of workers) await t.waitFor(w, /listening on task_queue3/);
        const emitter = await t.run('terminal 4 — emitter-of-tasks', 'npm run lesson:03 -- emitter-of-tasks');
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

  // README "Run it: three scenarios": monitor, slow-consumer, fast-producer, no flags; filmed once
  // the queue is full and the producer has backed off to its minimum.
  async '04-pace-matching'() {
    await deleteQueues('pace_queue', 'pace_queue.dead');
    const hadEvents = await exchangeExists('pace.events');
    await scene('04-pace-matching.png', 96, 18, 2, async (t) => {
      const monitor = await t.run('terminal 1 — monitor', 'npm run lesson:04 -- monitor');
      await t.waitFor(monitor, /Pace monitor/);
      const consumer = await t.run('terminal 2 — slow-consumer', 'npm run lesson:04 -- slow-consumer');
      await t.waitFor(consumer, /Consuming pace_queue/);
      const producer = await t.run('terminal 3 — fast-producer', 'npm run lesson:04 -- fast-producer');
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

  // README "Run it on one machine": its five lines, as written, then results/run1/report.html.
  async '05-performance'() {
    const made = ['results/consumer.csv', 'results/producer.csv', 'results/run1'].map((f) =>
      join(repoRoot, f),
    );
    const existing = made.filter((f) => existsSync(f));
    if (existing.length) {
      say(`  skipped: ${existing.join(', ')} exist already; move them away to make 05-report.png.`);
      return;
    }
    await deleteQueues('perf_queue');
    const hadResults = existsSync(join(repoRoot, 'results'));
    try {
      const recipe = [
        'mkdir -p results',
        'npm run --silent lesson:05 -- consumer --count 1000 > results/consumer.csv &',
        'npm run --silent lesson:05 -- producer --count 1000 > results/producer.csv',
        'wait',
        'npm run lesson:05 -- process-results --producer results/producer.csv --consumer results/consumer.csv --out results/run1',
      ].join('\n');
      execFileSync('bash', ['-e', '-c', recipe], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage({ viewport: { width: 800, height: 1000 } });
        await page.goto(pathToFileURL(join(repoRoot, 'results/run1/report.html')).href);
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

  // README "Run it": the subscriber, publisher A and 100,000 jobs; then publishers B … E and
  // another 100,000 jobs, typed again in the enqueue terminal.
  async '06-scheduled-jobs'() {
    const db = await connectDatabase({ name: 'screenshots' });
    // The rows it adds are deleted after; a table the lesson creates here stays (its schema.sql).
    const exists = (await db.query("SELECT to_regclass('jobs') IS NOT NULL AS yes")).rows[0].yes as boolean;
    const before = exists
      ? Number((await db.query('SELECT coalesce(max(id), 0) AS id FROM jobs')).rows[0].id)
      : 0;
    try {
      await scene('06-scheduled-jobs.png', 84, 10, 2, async (t) => {
        const subscriber = await t.run(
          'terminal 1 — subscriber',
          "npm run lesson:06 -- subscriber --qos 0 --topic 'job/test/#'",
        );
        await t.waitFor(subscriber, /Subscribed to job/);
        const a = await t.run(
          'terminal 2 — publisher A',
          'npm run lesson:06 -- publisher --name A --jobs-per-read 1000',
        );
        await t.waitFor(a, /publishing due jobs/);
        const enqueue = await t.run('terminal 3 — enqueue', 'npm run lesson:06 -- enqueue --count 100000');
        await t.waitFor(enqueue, /enqueued 100000 jobs/);
        await t.waitFor(subscriber, /\b100000 jobs/);
        const more: string[] = [];
        for (const [i, name] of ['B', 'C', 'D', 'E'].entries())
          more.push(
            await t.run(
              `terminal ${i + 4} — publisher ${name}`,
              `npm run lesson:06 -- publisher --name ${name} --jobs-per-read 1000`,
            ),
          );
        for (const p of more) await t.waitFor(p, /publishing due jobs/);
        t.type(enqueue, 'npm run lesson:06 -- enqueue --count 100000');
        await t.waitFor(subscriber, /\b200000 jobs/);
        // Each publisher's last status line (every 5 s) once the batch is done: its share, at 0 jobs/min.
        for (const p of [a, ...more]) await t.waitFor(p, /: [1-9]\d* jobs published \(0 jobs\/min\)[^[]*$/);
      });
    } finally {
      await db.query('DELETE FROM jobs WHERE id > $1', [before]);
      await db.end();
    }
  },

  // README "Drill: kill the leader mid-run": the cluster up (terminal 2), the drill in one program
  // with the killed node left down (terminal 1), then the cluster's status and the node's return.
  async '07-clusters'() {
    await scene('07-clusters.png', 124, 27, 1, async (t) => {
      const cluster = await t.run('terminal 2 — the cluster', 'npm run cluster -- up');
      await t.waitForExit(cluster, 240);
      const drill = await t.run('terminal 1 — drill', 'npm run lesson:07 -- drill --no-restart');
      await t.waitForExit(drill, 240);
      t.type(cluster, 'clear; npm run cluster -- status');
      await t.waitForExit(cluster, 60);
      t.type(cluster, 'npm run cluster -- start 1');
      await t.waitForExit(cluster, 240);
    });
  },
};

/** Waits until the management API's statistics (sampled every 5 s) show the queue's messages and
 * an ack rate: the workers chewing through them, as the README's picture says. */
async function statisticsShow(queue: string) {
  const management = new ManagementClient();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const figures = ((await management.request(`/queues/%2F/${queue}`)) ?? {}) as {
      messages_ready?: number;
      messages_unacknowledged?: number;
      message_stats?: { ack_details?: { rate?: number } };
    };
    const waiting = (figures.messages_ready ?? 0) + (figures.messages_unacknowledged ?? 0);
    if (waiting > 0 && (figures.message_stats?.ack_details?.rate ?? 0) > 0) return;
    await sleep(500);
  }
  throw new Error(`the management API never showed ${queue}'s messages and an ack rate within 30 s`);
}

/** The management UI's queue list, logged in. */
async function managementQueues(browser: Awaited<ReturnType<typeof launchBrowser>>, file: string) {
  const { base } = managementAuth();
  const page = await browser.newPage({ viewport: { width: 1200, height: 470 } });
  await page.goto(`${base}/`);
  await page.fill('input[name="username"]', 'guest');
  await page.fill('input[name="password"]', 'guest');
  await page.click('input[type="submit"]');
  await page.waitForSelector('#logout');
  await page.goto(`${base}/#/queues`);
  await page.waitForSelector('table.list');
  await page.fill('#queues-name', 'task_queue3'); // only the lesson's queue
  await page.keyboard.press('Enter');
  // The page fills its rates in after the table: wait for the filtered list with a rate above 0.
  await page.waitForFunction(
    `document.body.innerText.includes('filtered down to 1') && /(?<![\\d.])(?!0\\.00\\/s)\\d+\\.\\d\\d\\/s/.test(document.body.innerText)`,
  );
  await page.screenshot({ path: file });
}

if (isEntryPoint(import.meta)) {
  if (!existsSync('/usr/bin/tmux')) {
    say('npm run screenshots needs tmux: apt-get install tmux.');
    process.exit(1);
  }
  mkdirSync(out, { recursive: true });
  const wanted = process.argv.slice(2);
  for (const [name, make] of Object.entries(scenes)) {
    if (wanted.length && !wanted.some((w) => name.startsWith(w))) continue;
    say(`${name}…`);
    await make();
  }
  shrink(written);
}
