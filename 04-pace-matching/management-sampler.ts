// The monitor's view of the management API: figures the broker samples every 5 s, shown as
// "sampling…" until it has two samples (before that its rates and unacked read 0 whatever flows),
// and a failure that is logged once, shown in the view, and cleared when the API answers again.
import type { Log } from '../shared/logger.ts';
import type { ManagementClient } from '../shared/management.ts';

export interface Sampled {
  /** 'ok': the API answers (a figure still undefined is "sampling…"); else why it failed. */
  state: 'ok' | 'sampling' | { failed: string };
  unacked?: number;
  publishRate?: number;
  deliverRate?: number;
  memory?: number;
}

/** The broker's statistics interval (collect_statistics_interval), 5 s by default. */
const statsIntervalMs = 5000;

export class ManagementSampler {
  private readonly publish = new Counter();
  private readonly deliver = new Counter();
  private knownSince = 0;
  private lastDepth: number | undefined;
  private grewAt = 0;
  private failing: string | undefined;

  constructor(
    private readonly api: ManagementClient,
    private readonly queue: string,
    private readonly log: Log,
  ) {}

  /** `depth`: the exact ready count just read over AMQP, to tell a still counter from a late one. */
  async sample(depth: number | undefined): Promise<Sampled> {
    let stats: Awaited<ReturnType<ManagementClient['queue']>>;
    let memory: number;
    try {
      [stats, memory] = await Promise.all([this.api.queue(this.queue), this.api.memoryUsed()]);
    } catch (error) {
      const why = (error as Error).message;
      if (this.failing === undefined)
        this.log.warn(
          ` [!] ${why.replace(/\.$/, '')}; showing the last figures as unknown until it answers.`,
        );
      this.failing = why;
      // Its counters may restart with the broker: sample afresh.
      this.publish.reset();
      this.deliver.reset();
      this.knownSince = 0;
      return { state: { failed: why } };
    }
    if (this.failing !== undefined) this.log.info(' [*] The management API answers again.');
    this.failing = undefined;
    // The broker's rates are right from its second sample on: count each counter's samples by the
    // moments it moves. A counter that stays still (or never appears) for two statistics intervals
    // while the exact depth does not grow is real too: nothing flows.
    const now = Date.now();
    if (!stats) return { state: 'sampling', memory };
    this.knownSince ||= now;
    if (depth !== undefined && this.lastDepth !== undefined && depth > this.lastDepth) this.grewAt = now;
    if (depth !== undefined) this.lastDepth = depth;
    const publish = this.publish.seen(stats.published, now, Math.max(this.knownSince, this.grewAt));
    const deliver = this.deliver.seen(stats.delivered, now, this.knownSince);
    return {
      state: 'ok',
      unacked: deliver ? (stats.unacked ?? 0) : undefined,
      publishRate: publish ? (stats.publishRate ?? 0) : undefined,
      deliverRate: deliver ? (stats.deliverRate ?? 0) : undefined,
      memory,
    };
  }
}

/** One cumulative counter: true once the broker has two samples of it, or it has been still long enough. */
class Counter {
  private samples = 0;
  private last: number | undefined;
  private movedAt = 0;

  seen(value: number | undefined, now: number, quietSince: number): boolean {
    if (value !== undefined && value !== this.last) {
      this.samples++;
      this.last = value;
      this.movedAt = now;
    }
    return this.samples >= 2 || now - Math.max(quietSince, this.movedAt) >= 2 * statsIntervalMs;
  }

  reset(): void {
    this.samples = 0;
    this.last = undefined;
    this.movedAt = 0;
  }
}
