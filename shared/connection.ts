// One way to reach RabbitMQ for every lesson: the URL list from AMQP_URL (brokerUrls), amqplib's own
// recovery plus failover to the next node where a program should outlive a dropped connection
// (failover.ts), error listeners on everything (an unhandled 'error' event would crash the process
// with a stack), and a close that waits for confirms. Consumers use keepConsuming (consume.ts),
// publishers keepPublishing (publish.ts).
import { EventEmitter, once } from 'node:events';
import amqp, { type Channel, type ConfirmChannel, type Options } from 'amqplib';
import { checkUrl, settings, splitUrls } from './config.ts';
import { CourseError, explain } from './errors.ts';
import { dropSocket, FailoverConnection, skippingNode } from './failover.ts';
import type { Log } from './logger.ts';
import { maskUrl } from './secrets.ts';

export type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';

export interface ConnectOptions {
  /** Nodes to try in turn; default AMQP_URL's list. */
  urls?: string[];
  /** Where `urls` came from, for sentences ("check the password in --url"); default AMQP_URL. */
  setting?: string;
  /**
   * Reconnect after the connection drops: amqplib's recovery on the same node, then the next node
   * of the list when that one stays down. Every long-running program wants this, with keepConsuming
   * or keepPublishing to run its setup again on each new connection.
   */
  recover?: boolean;
  /** With `recover`: give up after this many seconds without any node answering (default 300). */
  giveUpSeconds?: number;
  /** Shown in the management UI's Connections tab, so learners can tell programs apart. */
  name?: string;
  log?: Log;
  /** Seconds before a connection attempt is given up. */
  timeoutSeconds?: number;
}

type Model = Pick<amqp.ChannelModel, 'createChannel' | 'createConfirmChannel' | 'close'> &
  EventEmitter & { readonly url?: string };

export class Connection extends EventEmitter {
  private readonly channels = new Set<Channel>();
  private closing = false;
  /** Why each channel closed, when the broker closed it. */
  readonly channelErrors = new WeakMap<Channel, Error>();

  constructor(
    private readonly model: Model,
    private readonly firstUrl: string,
    readonly recovering: boolean,
  ) {
    super();
    // Without these listeners a dropped connection is an uncaught 'error' event.
    model.on('error', (err: Error) => this.emit('connection-error', err));
    for (const event of ['blocked', 'unblocked', 'disconnect', 'connect', 'close', 'reconnect-failed']) {
      model.on(event, (...args: unknown[]) => this.emit(event, ...args));
    }
  }

  /** The node we are connected to now (unmasked: never print it without maskUrl). */
  get url(): string {
    return this.model.url ?? this.firstUrl;
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

  /**
   * Waits for outstanding confirms, closes every channel, then the connection. Never throws. A
   * broker that has not finished the close within `withinSeconds` (it may never answer: a blocked
   * connection, a quorum queue without a majority) is dropped, the socket destroyed, and the result
   * is false: a program must be able to end even then.
   */
  async close(withinSeconds = 10): Promise<boolean> {
    if (this.closing) return true;
    this.closing = true;
    const graceful = this.closeGracefully().then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), withinSeconds * 1000);
    });
    const closed = await Promise.race([graceful, late]);
    clearTimeout(timer);
    if (!closed) this.destroy();
    return closed;
  }

  private async closeGracefully(): Promise<void> {
    for (const channel of this.channels) {
      if ('waitForConfirms' in channel) await (channel as ConfirmChannel).waitForConfirms().catch(() => {});
      await channel.close().catch(() => {});
    }
    await this.model.close().catch(() => {});
  }

  /** The socket goes, without a handshake: a failover connection's, or a plain amqplib one's. */
  private destroy(): void {
    if (this.model instanceof FailoverConnection) this.model.destroy();
    else dropSocket(this.model as unknown as amqp.ChannelModel);
  }
}

/**
 * The nodes a program may use, in the order to try them: its --url flag (one URL or a
 * comma-separated list) when given, else AMQP_URL's list. Every connect path uses this.
 */
export function brokerUrls(flag?: string): string[] {
  const urls = flag ? splitUrls(flag).map((url) => checkUrl('AMQP_URL', url, '--url')) : settings().amqpUrls;
  if (!urls.length) throw noBroker();
  return urls;
}

/** The nodes and where they came from, for connect(): a --url flag, else AMQP_URL. */
export function brokerTarget(flag?: string): { urls: string[]; setting: string } {
  return { urls: brokerUrls(flag), setting: flag ? '--url' : 'AMQP_URL' };
}

const noBroker = () =>
  new CourseError('No broker given: pass --url amqp://host:5672 or set AMQP_URL.', {
    code: 'USAGE',
    exitCode: 2,
  });

/** The broker a program was told to use: its --url flag, else the first node of AMQP_URL. */
export function brokerUrl(flag?: string): string {
  return brokerUrls(flag)[0]!;
}

/**
 * Connects to the first node that answers; throws a CourseError sentence if none does. With
 * `recover`, the connection then survives the broker closing it, a broker restart and (with a node
 * list) its node's death: see FailoverConnection. keepConsuming and keepPublishing rebuild the
 * lesson's channels on each new connection.
 */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const urls = options.urls ?? brokerUrls();
  if (!urls.length) throw noBroker();
  const socketOptions: Options.Connect & Record<string, unknown> = {
    timeout: (options.timeoutSeconds ?? 10) * 1000,
    // Nagle's algorithm can add 40 ms stalls to request/response patterns; other clients turn it off too.
    noDelay: true,
    clientProperties: { connection_name: options.name ?? process.argv[1]?.split('/').pop() ?? 'course' },
  };
  if (options.recover) {
    const failover = await FailoverConnection.open({
      urls,
      socketOptions,
      log: options.log,
      setting: options.setting,
      giveUpAfterMs: options.giveUpSeconds === undefined ? undefined : options.giveUpSeconds * 1000,
    });
    const connection = new Connection(failover as unknown as Model, failover.url, true);
    connection.on('disconnect', (err: Error) =>
      options.log?.warn(`Lost the connection to ${maskUrl(connection.url)} (${err.message}); reconnecting…`),
    );
    return connection;
  }
  let lastError: unknown;
  for (const [i, url] of urls.entries()) {
    try {
      return new Connection((await amqp.connect(url, socketOptions)) as unknown as Model, url, false);
    } catch (error) {
      lastError = explain(error, { url, setting: options.setting });
      const next = urls[i + 1];
      if (next) options.log?.warn(skippingNode(url, error, next));
    }
  }
  throw lastError;
}

/**
 * For `channel.waitForConfirms().catch(refused(queue, 'the message'))`: a nack means the broker refused a
 * message (a queue at its length limit with reject-publish, say) and it is not in the queue. One
 * sentence that says so, instead of amqplib's "message was not confirmed".
 */
export function refused(queue: string, what: string) {
  return (nack: unknown): never => {
    throw new CourseError(
      `RabbitMQ refused ${what} (nack): check ${queue}'s length limit, then send again.`,
      { code: 'NACKED', cause: nack },
    );
  };
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
