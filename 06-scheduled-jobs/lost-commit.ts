// A COMMIT whose answer was lost may have committed: PostgreSQL knows (txid_status). Committed, its
// jobs are processed and counted; else they stay due and go out again. Never counted twice, never
// left out.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Lane, reportRefused, type Unanswered } from './claim-publish-commit.ts';
import type { Client } from './postgres.ts';

/** Asks, on the lane's new connection, how the unanswered COMMIT ended, and counts the batch so. */
export async function settleUnanswered(lane: Lane, batch: Unanswered, why: string): Promise<void> {
  const status = await transactionStatus(lane.db, batch.txid, lane.signal);
  if (status === 'committed') {
    lane.tally.committed(batch.jobs, batch.verdict.unheard, batch.verdict.refused.length);
    reportRefused(lane, batch.verdict.refused);
    lane.log.info(
      ` [*] lane ${lane.number}: that COMMIT had reached PostgreSQL: the ${batch.jobs} jobs are processed, and counted.`,
    );
    return;
  }
  lane.tally.rolledBack++;
  lane.log.warn(` [!] lane ${lane.number}: batch of ${batch.jobs} jobs rolled back (they stay due): ${why}.`);
}

/** 'committed', 'aborted', or 'in progress' while the old backend has not yet noticed it lost us. */
async function transactionStatus(db: Client, txid: string, signal: AbortSignal): Promise<string> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ status: string | null }>('SELECT txid_status($1) AS status', [txid]);
    const status = rows[0]?.status ?? 'unknown';
    if (status !== 'in progress' || performance.now() > deadline || signal.aborted) return status;
    await sleep(50, undefined, { signal }).catch(() => {});
  }
}
