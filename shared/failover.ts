// A connection that outlives its node. amqplib's own recovery (`connect(url, { recovery })`)
// reconnects, with backoff, to the one URL it was given; when that node stays down, this moves on
// to the next node of the list and lets amqplib's recovery take over there, round after round,
// until a node answers or the time allowed runs out.
import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel, type Options, type RecoveringChannelModel } from 'amqplib';
import { CourseError, explain } from './errors.ts';
import type { Log } from './logger.ts';
import { maskUrl } from './secrets.ts';

export interface FailoverOptions {
  urls: string[];
  /** Where the list came from, for sentences: AMQP_URL, or a program's --url. */
  setting?: string;
  socketOptions: Options.Connect & Record<string, unknown>;
  log?: Log;
  /** Attempts on one node, after the first, before trying the next one. */
  retriesPerNode?: number;
  /** Give up (and emit 'reconnect-failed') after this long without any node answering. */
  giveUpAfterMs?: number;
}

// Backoff on one node: 0.2 s, 0.4 s, 0.8 s, … up to 5 s between attempts.
const backoff = { initialDelay: 200, maxDelay: 5000, factor: 2 };

/**
 * Emits what amqplib's recovering model emits ('connect' after every reconnect, on whichever node,
 * 'disconnect', 'error', 'blocked', 'unblocked'), plus 'reconnect-failed' with a CourseError
 * when no node answered within `giveUpAfterMs`.
 */
export class FailoverConnection extends EventEmitter {
  private model: RecoveringChannelModel | undefined;
  private index = 0;
  private stopped = false;
  private moving: Promise<RecoveringChannelModel | undefined> | undefined;
  private lostAt = 0;

  private constructor(private readonly options: FailoverOptions) {
    super();
  }

  /** The node in use now (unmasked: never print it without maskUrl). */
  get url(): string {
    return this.options.urls[this.index]!;
  }

  /**
   * Connects to the first node of the list that answers, trying each once (a wrong URL or password
   * at start is a mistake to report at once); throws the last node's error as one sentence.
   */
  static async open(options: FailoverOptions): Promise<FailoverConnection> {
    const connection = new FailoverConnection(options);
    let lastError: CourseError | undefined;
    for (const [index, url] of options.urls.entries()) {
      try {
        connection.use(index, await connection.dial(url, 0));
        return connection;
      } catch (error) {
        lastError = explain(error, { url, setting: options.setting });
        const next = options.urls[index + 1];
        if (next) options.log?.warn(skippingNode(url, error, next));
      }
    }
    throw lastError;
  }

  private dial(url: string, retries: number): Promise<RecoveringChannelModel> {
    return amqp.connect(url, {
      ...this.options.socketOptions,
      recovery: { ...backoff, initialMaxRetries: retries, maxRetries: this.options.retriesPerNode ?? 3 },
    });
  }

  private use(index: number, model: RecoveringChannelModel): void {
    this.index = index;
    this.model = model;
    model.on('connect', (...args: unknown[]) => this.emit('connect', ...args));
    model.on('disconnect', (err: Error) => {
      this.lostAt ||= Date.now();
      this.emit('disconnect', err);
    });
    model.on('connect', () => {
      this.lostAt = 0;
    });
    // Without a listener an 'error' event would crash the process with a stack.
    model.on('error', (err: Error) => this.emit('error', err));
    for (const event of ['blocked', 'unblocked']) model.on(event, (...args) => this.emit(event, ...args));
    // amqplib gave up on this node: the next one (the same one again when it is the only one).
    model.on('reconnect-failed', (err: Error) => void this.moveOn(err));
  }

  private moveOn(err: Error): Promise<RecoveringChannelModel | undefined> {
    this.moving ??= (async () => {
      const { urls, log, retriesPerNode = 3, giveUpAfterMs = 300_000, setting = 'AMQP_URL' } = this.options;
      this.lostAt ||= Date.now();
      let reason = err;
      while (!this.stopped) {
        if (Date.now() - this.lostAt > giveUpAfterMs) {
          const error = new CourseError(
            `Lost the connection to RabbitMQ and no node of ${urls.map(maskUrl).join(', ')} answered within ${Math.round(giveUpAfterMs / 1000)} s (last: ${explain(reason, { url: this.url, setting }).message.replace(/\.$/, '')}).`,
            { code: 'RECONNECT_FAILED', cause: reason },
          );
          this.emit('reconnect-failed', error);
          return undefined;
        }
        const next = (this.index + 1) % urls.length;
        if (urls.length > 1)
          log?.warn(`${maskUrl(this.url)} does not answer; trying ${maskUrl(urls[next]!)}.`);
        try {
          const model = await this.dial(urls[next]!, retriesPerNode);
          if (this.stopped) {
            await model.close().catch(() => {});
            return undefined;
          }
          this.use(next, model);
          this.lostAt = 0;
          this.emit('connect', model);
          return model;
        } catch (error) {
          this.index = next;
          reason = error as Error;
        }
      }
      return undefined;
    })().finally(() => {
      this.moving = undefined;
    });
    return this.moving;
  }

  /** The live model: waits while amqplib reconnects or while we move to another node. */
  private async live(): Promise<RecoveringChannelModel> {
    if (this.moving) {
      const model = await this.moving;
      if (!model) throw new Error('Connection closed');
      return model;
    }
    return this.model!;
  }

  createChannel(options?: { highWaterMark?: number }) {
    return this.onLiveModel((model) => model.createChannel(options));
  }

  createConfirmChannel(options?: { highWaterMark?: number }) {
    return this.onLiveModel((model) => model.createConfirmChannel(options));
  }

  // A node whose recovery is abandoned rejects what waited on it; by then we are moving on.
  private async onLiveModel<T>(open: (model: RecoveringChannelModel) => Promise<T>): Promise<T> {
    for (;;) {
      const model = await this.live();
      try {
        return await open(model);
      } catch (error) {
        if (this.stopped || (model === this.model && !this.moving)) throw error;
      }
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.model?.close().catch(() => {});
  }

  /**
   * Drops the connection without the close handshake, for a broker that no longer answers one
   * (RabbitMQ 3.10 holds even connection.close while a channel waits on a quorum queue without a
   * majority). amqplib has no public way to reach the socket under its recovering model: this
   * reads its 2.x internals, and lesson 07's no-majority test fails if they change.
   */
  destroy(): void {
    this.stopped = true;
    const inner = (this.model as unknown as { _core?: { _model?: ChannelModel } } | undefined)?._core?._model;
    void this.model?.close().catch(() => {});
    dropSocket(inner);
  }
}

/**
 * Ends an amqplib connection without the handshake: its socket destroyed and its heartbeat timer
 * cleared (once a close is sent, amqplib ignores the socket's end and would keep that timer, and
 * the process, alive for minutes). amqplib 2.x internals, for the same reason as destroy().
 */
export function dropSocket(model: ChannelModel | undefined): void {
  const connection = model?.connection as unknown as
    | { stream?: { destroy(): void }; heartbeater?: { clear(): void } | null }
    | undefined;
  connection?.heartbeater?.clear();
  connection?.stream?.destroy();
}

export type { ChannelModel };

/**
 * A node of the list that is down is expected (that is why there is a list): one short line. The
 * full sentence, with what to do, comes only when no node answers.
 */
export function skippingNode(url: string, error: unknown, next: string): string {
  const reason = (error as { code?: string }).code ?? (error as Error).message;
  return `${maskUrl(url)} does not answer (${reason}); trying ${maskUrl(next)}.`;
}
