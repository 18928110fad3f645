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
  /** Opens a URL; the browser by default. Tests pass their own. */
  opener?: (url: string) => Promise<unknown>;
  /** Asks yes/no; @inquirer/prompts by default. */
  ask?: (question: string) => Promise<boolean>;
  /** Whether a person is at a terminal; defaults to stdin and stdout both being TTYs. */
  interactive?: boolean;
}

export const isInteractive = () => Boolean(process.stdin.isTTY && process.stdout.isTTY);

/** The management UI's queues page, without credentials in it. */
export const queuesPage = () => `${managementAuth().base}/#/queues`;

/** "Would you like to monitor RabbitMQ queues?" — opens the management UI's queues page on yes. */
export async function offerAdminPanel(offer: AdminOffer): Promise<boolean> {
  const url = queuesPage();
  let wanted = offer.admin;
  if (wanted === undefined) {
    if (!(offer.interactive ?? isInteractive())) return false;
    wanted = await askOrInterrupt(
      offer.ask ?? ((message) => confirm({ message, default: false })),
      'Would you like to monitor RabbitMQ queues?',
    );
  }
  if (!wanted) return false;
  try {
    await (offer.opener ?? ((target: string) => open(target)))(url);
    offer.log.info(`Opened ${url} in your browser (log in as guest / guest).`);
  } catch {
    offer.log.warn(`Could not open a browser here: visit ${url} yourself (log in as guest / guest).`);
  }
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
