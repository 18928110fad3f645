// Lesson 03's pictures of the management API: its statistics waited for, its queue list photographed.
import { managementAuth } from '../../shared/config.ts';
import { ManagementClient } from '../../shared/management.ts';
import type { launchBrowser } from '../browser.ts';
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

/** The management UI's queue list, logged in. */
export async function managementQueues(browser: Awaited<ReturnType<typeof launchBrowser>>, file: string) {
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
