// One way to reach RabbitMQ for every lesson: the URL list from AMQP_URL, amqplib's own recovery
// where a program should outlive a dropped connection, error listeners on everything (an
// unhandled 'error' event would crash the process with a stack), and a close that waits for confirms.
import { EventEmitter, once } from 'node:events';
import amqp, { type Channel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { maskUrl, settings } from './config.ts';
import { CourseError, explain } from './errors.ts';
import type { Log } from './logger.ts';

export type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';

export interface ConnectOptions {
  /** Nodes to try in turn; default AMQP_URL's list. */
  urls?: string[];
  /** Reconnect with amqplib's recovery after the connection drops (consumers want this). */
  recover?: boolean;
  /** Shown in the management UI's Connections tab, so learners can tell programs apart. */
  name?: string;
  log?: Log;
  /** Seconds before a connection attempt is given up. */
  timeoutSeconds?: number;
}

type Model = Pick<amqp.ChannelModel, 'createChannel' | 'createConfirmChannel' | 'close'> & EventEmitter;

export class Broker extends EventEmitter {
  private readonly channels = new Set<Channel>();
  private closing = false;
  /** Why each channel closed, when the broker closed it. */
  readonly channelErrors = new WeakMap<Channel, Error>();

  constructor(
    private readonly model: Model,
    /** The node we are connected to (unmasked: never print it without maskUrl). */
    readonly url: string,
    readonly recovering: boolean,
  ) {
    super();
    // Without these listeners a dropped connection is an uncaught 'error' event.
    model.on('error', (err: Error) => this.emit('connection-error', err));
    for (const event of ['blocked', 'unblocked', 'disconnect', 'connect', 'close']) {
      model.on(event, (...args: unknown[]) => this.emit(event, ...args));
    }
  }

  /** False once a channel has closed, for whatever reason. */
  isOpen(channel: Channel): boolean {
    return this.channels.has(channel);
  }

  get closed(): boolean {
    return this.closing;
  }

  async channel(options?: { highWaterMark?: number }): Promise<Channel> {
    return this.track(await this.model.createChannel(options));
  }

  async confirmChannel(options?: { highWaterMark?: number }): Promise<ConfirmChannel> {
    return this.track(await this.model.createConfirmChannel(options));
  }

  private track<C extends Channel>(channel: C): C {
    this.channels.add(channel);
    channel.on('error', (err: Error) => this.channelErrors.set(channel, err));
    channel.on('close', () => this.channels.delete(channel));
    return channel;
  }

  /** Waits for outstanding confirms, closes every channel, then the connection. Never throws. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const channel of this.channels) {
      if ('waitForConfirms' in channel) await (channel as ConfirmChannel).waitForConfirms().catch(() => {});
      await channel.close().catch(() => {});
    }
    await this.model.close().catch(() => {});
  }
}

/** The broker a program was told to use: its --url flag, else the first node of AMQP_URL. */
export function brokerUrl(flag?: string): string {
  const url = flag ?? settings().amqpUrls[0];
  if (!url)
    throw new CourseError('No broker given: pass --url amqp://host:5672 or set AMQP_URL.', {
      code: 'USAGE',
      exitCode: 2,
    });
  return url;
}

/** Connects to the first node of AMQP_URL that answers; throws a CourseError sentence if none does. */
export async function connect(options: ConnectOptions = {}): Promise<Broker> {
  const urls = options.urls ?? settings().amqpUrls;
  const socketOptions: Options.Connect & Record<string, unknown> = {
    timeout: (options.timeoutSeconds ?? 10) * 1000,
    // Nagle's algorithm can add 40 ms stalls to request/response patterns; other clients turn it off too.
    noDelay: true,
    clientProperties: { connection_name: options.name ?? process.argv[1]?.split('/').pop() ?? 'course' },
  };
  let lastError: unknown;
  for (const url of urls) {
    try {
      if (options.recover) {
        const model = await amqp.connect(url, {
          ...socketOptions,
          // Fail fast at start (a wrong URL is a mistake to report), retry for ever once connected.
          recovery: { initialMaxRetries: 0, maxRetries: Infinity, initialDelay: 200, maxDelay: 5000 },
        });
        const broker = new Broker(model as unknown as Model, url, true);
        broker.on('disconnect', (err: Error) =>
          options.log?.warn(`Lost the connection to ${maskUrl(url)} (${err.message}); reconnecting…`),
        );
        return broker;
      }
      return new Broker((await amqp.connect(url, socketOptions)) as unknown as Model, url, false);
    } catch (error) {
      lastError = explain(error, { service: 'RabbitMQ', url });
      if (urls.length > 1) options.log?.warn(`${(lastError as Error).message} Trying the next node.`);
    }
  }
  throw (
    lastError ??
    new CourseError('AMQP_URL names no broker: set it to a URL such as amqp://guest:guest@localhost:5672.', {
      code: 'USAGE',
      exitCode: 2,
    })
  );
}

export interface ConsumeOptions {
  queue: string;
  /** Declares the queue (and whatever else) on each new channel, so a reconnect rebuilds it. */
  setup?: (channel: Channel) => Promise<unknown>;
  /** Unacked messages the broker may push to us; 0 means unlimited, not none. */
  prefetch?: number;
  /** Auto-ack: the broker forgets a message as soon as it is sent. */
  noAck?: boolean;
  /** Stop after this many messages were handled. */
  count?: number;
  signal?: AbortSignal;
  log?: Log;
  /** Called once the consumer is registered: the moment to say " [*] Waiting…". */
  onReady?: () => void;
  /** One message at a time, in delivery order, like a worker doing one task after another. */
  serial?: boolean;
  /** Called as each message arrives, before it waits its turn (serial) or is handled. */
  onDelivery?: (message: ConsumeMessage) => void;
}

export type Handler = (message: ConsumeMessage, channel: Channel) => Promise<void> | void;

export interface ConsumeResult {
  handled: number;
  reason: 'count' | 'signal' | 'cancelled';
}

/**
 * Consumes until `count` messages were handled, the signal fires, or the broker cancels us.
 * The handler acks (unless noAck). A handler that is interrupted leaves its message unacked,
 * so the broker gives it to another consumer: nothing is lost on the way out.
 */
export function consume(broker: Broker, options: ConsumeOptions, handler: Handler): Promise<ConsumeResult> {
  return new Promise<ConsumeResult>((resolve, reject) => {
    let channel: Channel | undefined;
    let consumerTag: string | undefined;
    let started = 0;
    let handled = 0;
    let done = false;
    let ready = false;
    const announceReady = () => {
      if (ready) return;
      ready = true;
      options.onReady?.();
    };
    const running = new Set<Promise<void>>();
    let queueTail: Promise<unknown> = Promise.resolve();

    const finish = async (reason: ConsumeResult['reason'] | Error) => {
      if (done) return;
      done = true;
      options.signal?.removeEventListener('abort', onAbort);
      broker.off('connect', onReconnect);
      if (channel && consumerTag) await channel.cancel(consumerTag).catch(() => {});
      // Interrupted handlers stop at once (their messages go back to the queue); the others finish.
      await Promise.allSettled(running);
      if (reason instanceof Error) reject(reason);
      else resolve({ handled, reason });
    };

    const onMessage = (message: ConsumeMessage | null, onChannel: Channel) => {
      announceReady(); // a delivery can overtake the consume reply
      if (message === null) {
        // The broker cancels consumers when their queue is deleted.
        options.log?.warn(`The queue ${options.queue} was deleted, so RabbitMQ stopped this consumer.`);
        void finish('cancelled');
        return;
      }
      if (done || (options.count !== undefined && started >= options.count)) {
        // Past --count: hand it straight back so another consumer gets it.
        if (!options.noAck) onChannel.nack(message, false, true);
        return;
      }
      started++;
      options.onDelivery?.(message);
      const previous = queueTail;
      const work = (async () => {
        try {
          if (options.serial) await previous.catch(() => {});
          if (done && options.signal?.aborted) return; // interrupted while waiting its turn: left unacked
          await handler(message, onChannel);
          handled++;
          if (options.count !== undefined && handled >= options.count) void finish('count');
        } catch (error) {
          // Interrupted, or the channel died under us: the unacked message is redelivered elsewhere.
          if (options.signal?.aborted || !broker.isOpen(onChannel)) return;
          void finish(explain(error));
        }
      })();
      queueTail = work;
      running.add(work);
      void work.finally(() => running.delete(work));
    };

    const subscribe = async () => {
      const current = await broker.channel();
      channel = current;
      current.on('close', () => {
        if (done) return;
        if (broker.recovering && !broker.closed && !broker.channelErrors.has(current)) return; // onReconnect resumes
        void finish(explain(broker.channelErrors.get(current) ?? new Error('Channel closed')));
      });
      await options.setup?.(current);
      if (options.prefetch !== undefined) await current.prefetch(options.prefetch);
      const reply = await current.consume(options.queue, (message) => onMessage(message, current), {
        noAck: options.noAck ?? false,
      });
      consumerTag = reply.consumerTag;
      announceReady();
    };

    const onReconnect = () => {
      if (done) return;
      options.log?.info(`Reconnected; consuming from ${options.queue} again.`);
      subscribe().catch((error) => void finish(explain(error)));
    };
    const onAbort = () => void finish('signal');

    if (options.count === 0) return resolve({ handled: 0, reason: 'count' });
    if (options.signal?.aborted) return resolve({ handled: 0, reason: 'signal' });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    broker.on('connect', onReconnect);
    subscribe().catch((error) => void finish(explain(error)));
  });
}

/**
 * Publishes one message. When amqplib's write buffer is full, sendToQueue returns false (the
 * message *is* buffered; never send it again) and we wait for 'drain' before the next one.
 */
export async function sendToQueue(
  channel: Channel,
  queue: string,
  content: Buffer,
  options?: Options.Publish,
): Promise<void> {
  if (channel.sendToQueue(queue, content, options)) return;
  await Promise.race([
    once(channel, 'drain'),
    once(channel, 'close').then(() => Promise.reject(new Error('Channel closed'))),
  ]);
}
