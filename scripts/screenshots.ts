// npm run screenshots: makes every picture the READMEs show from real runs. Terminal programs run
// in tmux (one window per pane, as a learner's terminals), their screens are captured with colours
// and drawn to PNG by headless Chromium; lesson 05's report.html and the management UI are
// photographed directly. Uses the lessons' default queues, so it clears them first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { launchBrowser } from '../shared/browser.ts';
import { isEntryPoint } from '../shared/cli.ts';
import { managementAuth, settings } from '../shared/config.ts';
import { repoRoot } from '../shared/logger.ts';
import { type Pane, renderPanes } from './terminal-render.ts';

const out = join(repoRoot, 'screenshots');
const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

  /** Opens a terminal of cols × rows and types `command` into it. */
  open(title: string, command: string): string {
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
    this.type(target, command);
    return target;
  }

  type(target: string, text: string, enter = true): void {
    this.tmux('send-keys', '-t', target, text, ...(enter ? ['Enter'] : []));
  }

  capture(target: string): string {
    return this.tmux('capture-pane', '-p', '-e', '-t', target);
  }

  /** Waits until the terminal shows `pattern` (a script, not a test: it polls the screen). */
  async waitFor(target: string, pattern: RegExp, seconds = 60): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!pattern.test(stripColours(this.capture(target)))) {
      if (Date.now() > deadline)
        throw new Error(`${target} never showed ${pattern}:\n${this.capture(target)}`);
      await sleep(200);
    }
  }

  panes(): Pane[] {
    return this.windows.map((title, i) => ({ title, text: this.capture(`${this.session}:${i}`) }));
  }

  interruptAll(): void {
    for (let i = 0; i < this.windows.length; i++) this.tmux('send-keys', '-t', `${this.session}:${i}`, 'C-c');
  }

  close(): void {
    try {
      execFileSync('tmux', ['kill-session', '-t', this.session], { stdio: 'ignore' });
    } catch {
      // no such session
    }
  }
}

async function deleteQueues(...queues: string[]) {
  const connection = await amqp.connect(settings().amqpUrls[0]!);
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  for (const queue of queues) await channel.deleteQueue(queue).catch(() => {});
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
    say(`  screenshots/${file} (${size.width} × ${size.height})`);
  } finally {
    terminals.interruptAll();
    await sleep(1500); // let the programs close their connections cleanly
    terminals.close();
  }
}

const scenes: Record<string, () => Promise<void>> = {
  async '01-hello-world'() {
    await deleteQueues('hello');
    await scene('01-hello-world.png', 72, 14, 2, async (t) => {
      const receive = t.open('terminal 1 — receive', 'npm run lesson:01 -- receive');
      await t.waitFor(receive, /Waiting for messages/);
      const send = t.open('terminal 2 — send', 'npm run lesson:01 -- send');
      await t.waitFor(send, /Sent 'Hello World!'/);
      t.type(send, "npm run lesson:01 -- send --message 'Hi there'");
      await t.waitFor(receive, /Received 'Hi there'/);
    });
  },

  async '02-work-queues'() {
    await deleteQueues('task_queue');
    await scene('02-work-queues.png', 62, 18, 3, async (t) => {
      const a = t.open('terminal 1 — worker A', 'npm run lesson:02 -- worker --name A --seconds-per-dot 0.3');
      const b = t.open('terminal 2 — worker B', 'npm run lesson:02 -- worker --name B --seconds-per-dot 0.3');
      await t.waitFor(a, /waiting for tasks/);
      await t.waitFor(b, /waiting for tasks/);
      const send = t.open('terminal 3 — new-task', 'npm run lesson:02 -- new-task --count 6 --dots 3');
      await t.waitFor(send, /confirmed all 6 tasks/);
      await t.waitFor(a, /A done 'Task 5/);
      await t.waitFor(b, /B done 'Task 6/);
    });
  },

  async '03-multiple-consumers'() {
    await deleteQueues('task_queue3');
    const browser = await launchBrowser();
    try {
      await scene('03-multiple-consumers.png', 78, 16, 2, async (t) => {
        const workers = ['A', 'B', 'C'].map((name, i) =>
          t.open(
            `terminal ${i + 1} — listening-worker ${name}`,
            `npm run lesson:03 -- listening-worker --name ${name} --seconds-per-dot 0.5`,
          ),
        );
        for (const w of workers) await t.waitFor(w, /listening on task_queue3/);
        const emitter = t.open(
          'terminal 4 — emitter-of-tasks',
          'npm run lesson:03 -- emitter-of-tasks --no-admin',
        );
        await t.waitFor(emitter, /Sent 20 rows/);
        await statisticsShow('task_queue3');
        await managementQueues(browser, join(out, '03-management-ui.png'));
        say('  screenshots/03-management-ui.png');
        await t.waitFor(workers[0]!, /done #/);
        await sleep(2500);
      });
    } finally {
      await browser.close();
    }
  },

  async '04-pace-matching'() {
    await deleteQueues('pace_queue', 'pace_queue.dead');
    const limit = ['--queue-limit', '3000'];
    await scene('04-pace-matching.png', 80, 18, 3, async (t) => {
      const monitor = t.open('terminal 1 — monitor', `npm run lesson:04 -- monitor ${limit.join(' ')}`);
      await t.waitFor(monitor, /Pace monitor/);
      const consumer = t.open(
        'terminal 2 — slow-consumer',
        `npm run lesson:04 -- slow-consumer ${limit.join(' ')}`,
      );
      await t.waitFor(consumer, /Consuming pace_queue/);
      const producer = t.open(
        'terminal 3 — fast-producer',
        `npm run lesson:04 -- fast-producer ${limit.join(' ')}`,
      );
      await t.waitFor(producer, /target rate 1000 → 500/);
      await t.waitFor(producer, /target rate .* → 50 msg\/s/);
      await sleep(2500);
    });
    await deleteQueues('pace_queue', 'pace_queue.dead');
  },

  async '05-performance'() {
    const dir = mkdtempSync(join(tmpdir(), 'shots-05-'));
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, '05-performance/run-experiment.ts'),
        'confirm-streamed',
        '--scale',
        '2',
        '--out',
        dir,
      ],
      { stdio: 'ignore' },
    );
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 800, height: 1000 } });
      await page.goto(pathToFileURL(join(dir, 'confirm-streamed', 'report.html')).href);
      await page.screenshot({ path: join(out, '05-report.png'), fullPage: true });
      say('  screenshots/05-report.png');
    } finally {
      await browser.close();
    }
  },

  async '06-scheduled-jobs'() {
    await scene('06-scheduled-jobs.png', 80, 12, 2, async (t) => {
      const subscriber = t.open('terminal 1 — subscriber', 'npm run lesson:06 -- subscriber --qos 0');
      await t.waitFor(subscriber, /Subscribed to job/);
      const publishers = ['A', 'B'].map((name, i) =>
        t.open(
          `terminal ${i + 2} — publisher ${name}`,
          `npm run lesson:06 -- publisher --name ${name} --jobs-per-read 1000 --status-seconds 2`,
        ),
      );
      for (const p of publishers) await t.waitFor(p, /publishing due jobs/);
      const enqueue = t.open('terminal 4 — enqueue', 'npm run lesson:06 -- enqueue --count 100000');
      await t.waitFor(enqueue, /enqueued 100000 jobs/);
      await t.waitFor(publishers[0]!, /jobs published \([\d,]+ jobs\/min\)/);
      await t.waitFor(subscriber, /100000 jobs/);
      await sleep(2500);
    });
  },
};

/** Waits until the management API's statistics (sampled every 5 s) show messages in the queue. */
async function statisticsShow(queue: string) {
  const { base, authorization } = managementAuth();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${base}/api/queues/%2F/${queue}`, { headers: { authorization } });
    const figures = (await response.json()) as { messages_ready?: number; messages_unacknowledged?: number };
    if ((figures.messages_ready ?? 0) + (figures.messages_unacknowledged ?? 0) > 0) return;
    await sleep(500);
  }
}

/** The management UI's queue list, logged in. */
async function managementQueues(browser: Awaited<ReturnType<typeof launchBrowser>>, file: string) {
  const { base } = managementAuth();
  const page = await browser.newPage({ viewport: { width: 1200, height: 620 } });
  await page.goto(`${base}/`);
  await page.fill('input[name="username"]', 'guest');
  await page.fill('input[name="password"]', 'guest');
  await page.click('input[type="submit"]');
  await page.waitForSelector('#logout');
  await page.goto(`${base}/#/queues`);
  await page.waitForSelector('table.list');
  await page.fill('#queues-name', 'task_queue3'); // only the lesson's queue
  await page.keyboard.press('Enter');
  await page.waitForTimeout(1000); // the page fills its rates in after the table
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
}
