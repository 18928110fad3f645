// The producer's rate control: a Pacer whose rate halves when the broker nacks (the queue is
// full) and climbs one step back each calm period, never above the target nor below the floor.
import type { Log } from '../shared/logger.ts';
import { Pacer } from '../shared/pacer.ts';

export interface RateSettings {
  /** The target, messages per second. */
  rate: number;
  minRate: number;
  decreaseFactor: number;
  increaseStep: number;
}

export class AdaptiveRate {
  readonly pacer: Pacer;
  /** The floor can never be above the target: `--rate 10 --min-rate 50` means 10 at most. */
  private readonly floor: number;
  private nackedThisPeriod = 0;

  constructor(
    private readonly settings: RateSettings,
    private readonly log: Log,
  ) {
    this.pacer = new Pacer(settings.rate);
    this.floor = Math.min(settings.minRate, settings.rate);
  }

  get current(): number {
    return this.pacer.rate;
  }

  /** The broker nacked `count` messages: the queue is full, slow down. */
  nacked(count: number): void {
    this.nackedThisPeriod += count;
    this.set(this.current * this.settings.decreaseFactor, `${count} nacked: the queue is full`);
  }

  /** Once a status period: a calm one (no nacks, nothing waiting to be retried) earns one step up. */
  endPeriod(retrying: number): void {
    if (this.nackedThisPeriod === 0 && retrying === 0 && this.current < this.settings.rate)
      this.set(this.current + this.settings.increaseStep, 'pressure eased');
    this.nackedThisPeriod = 0;
  }

  private set(rate: number, why: string): void {
    const next = Math.round(Math.max(this.floor, Math.min(this.settings.rate, rate)));
    if (next === this.current) return;
    this.log.info(` [~] target rate ${this.current} → ${next} msg/s (${why})`);
    this.pacer.setRate(next);
  }
}
