// Questions for the learner. Never asked without a terminal (tests, CI, pipes): flags answer them there.
import { confirm } from '@inquirer/prompts';
import open from 'open';
import { managementAuth } from './config.ts';
import { CourseError } from './errors.ts';
import type { Log } from './logger.ts';

export interface AdminOffer {
  /** --admin / --no-admin: the answer given in advance; undefined asks (on a terminal). */
  admin: boolean | undefined;
  log: Log;
}

export const isInteractive = () => Boolean(process.stdin.isTTY && process.stdout.isTTY);

/** The management UI's queues page, without credentials in it. */
export const queuesPage = () => `${managementAuth().base}/#/queues`;

/**
 * Opens a URL or file in the desktop's browser or viewer, and says whether it could: 'opened', or
 * 'no-browser' on a machine with no desktop (no DISPLAY on Linux) or when the opener fails.
 */
export async function openInBrowser(target: string): Promise<'opened' | 'no-browser'> {
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
    return 'no-browser';
  try {
    const child = await open(target);
    // xdg-open and friends exit at once: 0 when a browser took the URL, non-zero when none did.
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(0), 5000); // still running: a browser is starting
      child.once('error', () => resolve(1));
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    return code === 0 ? 'opened' : 'no-browser';
  } catch {
    return 'no-browser';
  }
}

/** "Would you like to monitor RabbitMQ queues?" — opens the management UI's queues page on yes. */
export async function offerAdminPanel(offer: AdminOffer): Promise<boolean> {
  const url = queuesPage();
  let wanted = offer.admin;
  if (wanted === undefined) {
    if (!isInteractive()) return false;
    wanted = await askOrInterrupt(
      (message) => confirm({ message, default: false }),
      'Would you like to monitor RabbitMQ queues?',
    );
  }
  if (!wanted) return false;
  if ((await openInBrowser(url)) === 'opened')
    offer.log.info(`Opened ${url} in your browser (log in as guest / guest).`);
  else
    offer.log.warn(
      `No browser here (no desktop, or none would start): visit ${url} yourself (log in as guest / guest).`,
    );
  return true;
}

async function askOrInterrupt(
  ask: (question: string) => Promise<boolean>,
  question: string,
): Promise<boolean> {
  try {
    return await ask(question);
  } catch (error) {
    // @inquirer/prompts rejects with ExitPromptError on Ctrl+C.
    if ((error as Error).name === 'ExitPromptError' || (error as Error).name === 'AbortPromptError') {
      throw new CourseError('Interrupted at the prompt: nothing was sent.', {
        code: 'INTERRUPTED',
        exitCode: 130,
      });
    }
    throw error;
  }
}
