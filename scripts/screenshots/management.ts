// Lesson 03's pictures of the management API: its statistics waited for, its queue list photographed.

import { join } from 'node:path';
import { managementAuth } from '../../shared/config.ts';
import { ManagementClient } from '../../shared/management.ts';
import { launchBrowser } from '../browser.ts';
import { out, wrote } from './pictures.ts';
import { sleep } from './terminals.ts';

/** Waits until the management API's statistics (sampled every 5 s) show the queue's messages and
 * an ack rate: the workers chewing through them, as the README's picture says. */
export async function statisticsShow(queue: string) {
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

/** Waits until the management API's statistics (sampled every 5 s) show `ready` messages in the
 * queue, so that the UI's list shows them too. */
export async function queueShows(queue: string, ready: number | ((messages: number) => boolean)) {
  const shows = typeof ready === 'number' ? (n: number) => n === ready : ready;
  const management = new ManagementClient();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const figures = ((await management.request(`/queues/%2F/${encodeURIComponent(queue)}`)) ?? {}) as {
      messages_ready?: number;
    };
    if (figures.messages_ready !== undefined && shows(figures.messages_ready)) return;
    await sleep(500);
  }
  throw new Error(
    `the management API never showed ${typeof ready === 'number' ? ready : 'the messages'} ready in ${queue} within 30 s`,
  );
}

/** What a management UI picture shows: the page (its #/ address), an optional name filter, and the
 * texts that must be on it before it is photographed (the UI fills its tables in after loading). */
export type ManagementView = {
  hash: string;
  filter?: { input: string; text: string };
  /** A section the page shows folded (an exchange's Bindings): opened by a click on its heading. */
  open?: string;
  ready: string[];
  height: number;
};

/** A management UI page, logged in as guest, photographed once it shows what `view.ready` says. */
export async function managementPage(
  browser: Awaited<ReturnType<typeof launchBrowser>>,
  file: string,
  view: ManagementView,
  extra = '',
) {
  const { base } = managementAuth();
  const page = await browser.newPage({ viewport: { width: 1200, height: view.height } });
  await page.goto(`${base}/`);
  await page.fill('input[name="username"]', 'guest');
  await page.fill('input[name="password"]', 'guest');
  await page.click('input[type="submit"]');
  await page.waitForSelector('#logout');
  await page.goto(`${base}/${view.hash}`);
  if (view.open) {
    // The UI slides a section open (jQuery): off, so the picture is not taken half-way.
    await page.waitForFunction('window.jQuery !== undefined');
    await page.evaluate('jQuery.fx.off = true');
    await page.click(`h2:text-is("${view.open}")`);
  }
  if (view.filter) {
    await page.waitForSelector(view.filter.input);
    await page.fill(view.filter.input, view.filter.text);
    await page.keyboard.press('Enter');
  }
  const texts = view.ready.map((text) => `document.body.innerText.includes(${JSON.stringify(text)})`);
  await page.waitForFunction([...texts, ...(extra ? [extra] : [])].join(' && '), undefined, {
    timeout: 30_000,
  });
  await page.screenshot({ path: file });
  await page.close();
}

/** One management UI picture, screenshots/<name>, in a browser of its own. */
export async function managementPicture(name: string, view: ManagementView) {
  const browser = await launchBrowser();
  try {
    await managementPage(browser, join(out, name), view);
    wrote(name);
  } finally {
    await browser.close();
  }
}

/** Lesson 03's queue list, filtered to its queue, once a rate above 0 shows the workers at work. */
export async function managementQueues(browser: Awaited<ReturnType<typeof launchBrowser>>, file: string) {
  await managementPage(
    browser,
    file,
    {
      hash: '#/queues',
      filter: { input: '#queues-name', text: 'task_queue3' },
      ready: ['filtered down to 1'],
      height: 470,
    },
    String.raw`/(?<![\d.])(?!0\.00\/s)\d+\.\d\d\/s/.test(document.body.innerText)`,
  );
}
