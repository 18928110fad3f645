// Holds a steady rate: the k-th unit is due at start + k / rate. Sleeping until each unit's due
// time (not a fixed sleep per unit) absorbs the time the work itself takes, so the rate holds.
import { setTimeout as sleep } from 'node:timers/promises';

export class Pacer {
  private anchor = performance.now();
  private issued = 0;

  constructor(private perSecond: number) {}

  get rate(): number {
    return this.perSecond;
  }

  /** Changes the rate from now on (re-anchored, so the change takes effect at once). */
  setRate(perSecond: number): void {
    this.perSecond = perSecond;
    this.anchor = performance.now();
    this.issued = 0;
  }

  /** Waits until `units` more may go. After a stall of over a second it starts afresh, no burst. */
  async take(units: number, signal?: AbortSignal): Promise<void> {
    if (this.perSecond <= 0) return; // 0 = unlimited
    let due = this.anchor + (this.issued * 1000) / this.perSecond;
    const now = performance.now();
    if (now - due > 1000) {
      this.anchor = now;
      this.issued = 0;
      due = now;
    }
    this.issued += units;
    const wait = due - now;
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
}

/** Epoch milliseconds with microsecond decimals, e.g. 1700000000123.456. */
export function nowMs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
}
