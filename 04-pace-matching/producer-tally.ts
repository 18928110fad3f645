// What the producer has to tell: totals for the summary, figures for the status line and the
// monitor, and the confirmed rate measured from the first confirmed batch to the last confirm.
import type { PaceEvent } from './events.ts';

export interface ProducerStatus {
  targetRate: number;
  /** Confirmed messages per second over the last status period. */
  confirmedRate: number;
  confirmed: number;
  nacks: number;
  inFlight: number;
  retrying: number;
}

type Kind = 'nack' | 'drain' | 'blocked';

export class ProducerTally {
  confirmed = 0;
  nacks = 0;
  /** Messages the broker returned as unroutable (their queue was gone). */
  returned = 0;
  /** Messages whose channel closed before their confirm: republished, never counted twice. */
  unconfirmedOnClose = 0;
  inFlight = 0;
  reconnects = 0;
  private confirmedThisPeriod = 0;
  private pressure: Record<Kind, number> = { nack: 0, drain: 0, blocked: 0 };
  private firstConfirmAt = 0;
  private lastConfirmAt = 0;
  private firstBatch = 0;

  pushedBack(kind: Kind, count = 1): void {
    this.pressure[kind] += count;
    if (kind === 'nack') this.nacks += count;
  }

  /** A batch's confirms arrived at `at`; `count` of them positive. */
  confirmedBatch(count: number, at: number): void {
    if (count === 0) return;
    this.confirmed += count;
    this.confirmedThisPeriod += count;
    if (!this.firstConfirmAt) {
      this.firstConfirmAt = at;
      this.firstBatch = this.confirmed;
    }
    this.lastConfirmAt = at;
  }

  /** Confirmed messages per second, from the end of the first confirmed batch to the last confirm. */
  get rate(): number {
    return this.lastConfirmAt > this.firstConfirmAt
      ? ((this.confirmed - this.firstBatch) * 1000) / (this.lastConfirmAt - this.firstConfirmAt)
      : 0;
  }

  /** The figures of the period that just ended; starts the next period. */
  endPeriod(
    seconds: number,
    targetRate: number,
    retrying: number,
  ): { status: ProducerStatus; event: PaceEvent } {
    const status: ProducerStatus = {
      targetRate,
      confirmedRate: this.confirmedThisPeriod / seconds,
      confirmed: this.confirmed,
      nacks: this.nacks,
      inFlight: this.inFlight,
      retrying,
    };
    const event: PaceEvent = {
      source: 'producer',
      targetRate,
      confirmedRate: status.confirmedRate,
      inFlight: this.inFlight,
      retrying,
      backpressure: { ...this.pressure },
    };
    this.confirmedThisPeriod = 0;
    this.pressure = { nack: 0, drain: 0, blocked: 0 };
    return { status, event };
  }
}

export function statusLine(now: ProducerStatus): string {
  return ` [>] target ${now.targetRate}/s confirmed ${Math.round(now.confirmedRate)}/s nacks ${now.nacks} in flight ${now.inFlight} retrying ${now.retrying} total ${now.confirmed}`;
}
