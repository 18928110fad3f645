// What a publisher counts, and the status line it prints every few seconds (the reference's table:
// jobs/min, CPU, memory) plus what the lesson adds: claim time, refusals, jobs nobody heard.
import type { Log } from '../shared/logger.ts';
import { everyPeriod } from '../shared/status-line.ts';

export class Tally {
  published = 0;
  /** PUBACK 0x10: the broker took the job, but no subscriber (no device) was there to get it. */
  unheard = 0;
  /** PUBACK 0x80 or more: set aside with the reason, not published. */
  refused = 0;
  late = 0;
  reads = 0;
  /** Batches rolled back after a failure (their jobs stay due and are published again). */
  rolledBack = 0;
  claimMs = 0;
  claimMaxMs = 0;
  #first = 0;
  #last = 0;

  claimed(ms: number): void {
    this.claimMs += ms;
    this.claimMaxMs = Math.max(this.claimMaxMs, ms);
  }

  committed(jobs: number, unheard: number, refused: number): void {
    const now = performance.now();
    this.#first ||= now;
    this.#last = now;
    this.published += jobs - refused;
    this.unheard += unheard;
    this.refused += refused;
  }

  /** Jobs per minute from the first commit to the last. */
  perMinute(): number {
    return this.#last > this.#first ? (this.published / ((this.#last - this.#first) / 1000)) * 60 : 0;
  }

  claimAverageMs(): number {
    return this.reads ? this.claimMs / this.reads : 0;
  }
}

/** Prints the status line every `seconds`; returns the function that stops it. */
export function startStatusLine(log: Log, name: string, tally: Tally, seconds: number): () => void {
  let cpu = process.cpuUsage();
  let publishedBefore = 0;
  return everyPeriod(log, seconds, (elapsed) => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const rate = Math.round(((tally.published - publishedBefore) / elapsed) * 60).toLocaleString('en');
    publishedBefore = tally.published;
    return ` [>] ${name}: ${tally.published} jobs published (${rate} jobs/min), ${tally.late} late, ${tally.unheard} unheard, ${tally.refused} refused, ${tally.reads} reads (claim ${tally.claimAverageMs().toFixed(1)} ms avg), CPU ${Math.round(((used.user + used.system) / 1e6 / elapsed) * 100)}%, RSS ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MB`;
  });
}

/** The last line: what was done, and what the broker said about it. */
export function summaryLine(name: string, tally: Tally): string {
  const extras = [
    tally.unheard ? `${tally.unheard} published, but no device was subscribed (PUBACK 0x10)` : '',
    tally.refused ? `${tally.refused} refused by the broker and set aside (see jobs.failure)` : '',
    tally.rolledBack ? `${tally.rolledBack} batches rolled back and published again` : '',
  ].filter(Boolean);
  return ` [✓] ${name}: ${tally.published} jobs published in ${tally.reads} reads = ${Math.round(tally.perMinute())} jobs/min; ${tally.late} late; claim ${tally.claimAverageMs().toFixed(1)} ms avg, ${tally.claimMaxMs.toFixed(1)} ms max${extras.length ? `; ${extras.join('; ')}` : ''}.`;
}
