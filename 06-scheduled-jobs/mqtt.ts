// MQTT for lesson 06: MQTT 5 (user properties carry the job id), a permanent error listener, the
// broker's reason codes, and errors as sentences that name the MQTT broker.
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { settings } from '../shared/config.ts';
import { CourseError } from '../shared/errors.ts';
import { maskUrl } from '../shared/secrets.ts';
import { explainMqtt } from './mqtt-errors.ts';
import { retryFor } from './retry.ts';

export type { MqttClient } from 'mqtt';

export interface MqttOptions {
  url?: string;
  clientId?: string;
  /**
   * Keep a persistent session: the broker remembers our subscriptions and queues QoS 1 messages
   * for us while we are away, for this many seconds. Without it the session is clean.
   */
  sessionExpirySeconds?: number;
  /** mqtt.js reconnects by itself every this many ms; 0 (the default) fails fast instead. */
  reconnectPeriod?: number;
  /** How long to wait for the broker's CONNACK (default 10 s). */
  connectTimeoutSeconds?: number;
  /** Told about every error after the connection is up (a reset, a keepalive timeout). */
  onError?: (error: CourseError) => void;
  /**
   * Attaches listeners before the first packet arrives: a persistent session's queued messages
   * can come in the same read as the CONNACK, before connectMqtt's caller could attach them.
   */
  listen?: (client: MqttClient) => void;
  /** Set when connecting again to a broker that answered before: a reset then means it is restarting. */
  reconnecting?: boolean;
  /**
   * Asked before each QoS 1 message is taken: false leaves it unacknowledged (no 'message' event,
   * no PUBACK), so a persistent session keeps it for next time instead of losing it to a client
   * that is stopping.
   */
  accept?: () => boolean;
}

const HELD_BACK = 'HELD_BACK';

/** The 'error' mqtt.js emits for a message that `accept` left unacknowledged: not a failure. */
export function heldBack(error: unknown): boolean {
  return (error as { code?: unknown }).code === HELD_BACK;
}

interface State {
  url: string;
  lastError?: CourseError;
  lost?: Promise<never>;
  /** PUBACK/PUBREC reason codes by packet id, until the publish's callback reads them. */
  reasons: Map<number, number>;
}
const states = new WeakMap<MqttClient, State>();

/** Connects, or fails with one sentence: the first attempt never retries, whatever reconnectPeriod says. */
export async function connectMqtt(options: MqttOptions = {}): Promise<MqttClient> {
  const url = options.url ?? settings().mqttUrl;
  const persistent = options.sessionExpirySeconds !== undefined;
  let client: MqttClient;
  try {
    client = mqtt.connect(url, {
      protocolVersion: 5,
      reconnectPeriod: options.reconnectPeriod ?? 0,
      connectTimeout: Math.round((options.connectTimeoutSeconds ?? 10) * 1000),
      clean: !persistent,
      ...(persistent ? { properties: { sessionExpiryInterval: options.sessionExpirySeconds } } : {}),
      ...(options.clientId ? { clientId: options.clientId } : {}),
      ...(options.accept
        ? {
            // mqtt.js has no "neither ack nor drop": an error as the answer sends no PUBACK and
            // goes on reading; it is then emitted as 'error', which the listeners below ignore.
            customHandleAcks: (_topic, _message, _packet, ack) =>
              options.accept?.() ? ack(0) : ack(Object.assign(new Error('held back'), { code: HELD_BACK })),
          }
        : {}),
    });
  } catch (error) {
    throw explainMqtt(error, url);
  }
  const state: State = { url, reasons: new Map() };
  states.set(client, state);
  // Listen for the close now: a connection lost before anyone asked whenLost must still count.
  void whenLost(client);
  // Permanent: after the connection is up mqtt.js still emits 'error' (ECONNRESET, a keepalive
  // timeout); with no listener that would crash the program with a stack.
  const connectTimeoutSeconds = options.connectTimeoutSeconds ?? 10;
  client.on('error', (error) => {
    if (heldBack(error)) return;
    state.lastError = explainMqtt(error, url, connectTimeoutSeconds);
    options.onError?.(state.lastError);
  });
  client.on('packetreceive', (packet) => {
    if ((packet.cmd === 'puback' || packet.cmd === 'pubrec') && packet.messageId !== undefined)
      state.reasons.set(packet.messageId, packet.reasonCode ?? 0);
  });
  // Nagle's algorithm would hold the last small PUBLISH of a batch until the broker's delayed ACK,
  // about 40 ms. mqtt.js leaves it on; turn it off on every (re)connected socket.
  options.listen?.(client);
  client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  await firstConnect(client, state, options.reconnecting === true);
  return client;
}

function firstConnect(client: MqttClient, state: State, reconnecting: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      client.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      client.off('connect', onConnect);
      client.end(true);
      const error = state.lastError ?? explainMqtt(new Error('Connection closed'), state.url);
      const reset = !reconnecting && (error.cause as { code?: string } | undefined)?.code === 'ECONNRESET';
      reject(reset ? notMqtt(error, state.url) : error);
    };
    client.once('connect', onConnect);
    client.once('close', onClose);
  });
}

/** Closed before any CONNACK: a server that is not an MQTT broker (RabbitMQ's 5672 resets the socket). */
function notMqtt(error: CourseError, url: string): CourseError {
  return new CourseError(
    `The server at ${maskUrl(url)} closed the connection before answering the MQTT handshake (ECONNRESET): is that an MQTT broker's port (5672 is RabbitMQ's AMQP)? Point MQTT_URL at your MQTT broker, e.g. mqtt://localhost:1883.`,
    { code: 'NOT_MQTT', cause: error },
  );
}

/** Rejects with one sentence naming the MQTT broker once this client's connection closes. */
export function whenLost(client: MqttClient): Promise<never> {
  const state = states.get(client)!;
  state.lost ??= new Promise<never>((_, reject) => {
    client.once('close', () =>
      reject(state.lastError ?? explainMqtt(new Error('Connection closed'), state.url)),
    );
  });
  state.lost.catch(() => {});
  return state.lost;
}

/**
 * publishAsync, plus the broker's verdict: resolves with the reason code of the PUBACK (0, or 0x10
 * "no matching subscribers", which mqtt.js treats as plain success) and rejects on a code of 0x80
 * or more (the error's `code` is the number). QoS 0 resolves with 0 once written.
 */
export function publishWithReason(
  client: MqttClient,
  topic: string,
  payload: string | Buffer,
  options: IClientPublishOptions,
): Promise<number> {
  const state = states.get(client)!;
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, options, (error, packet) => {
      // Read synchronously: the packet id is given back to mqtt.js right after this callback.
      const id = packet?.messageId;
      const reason = id === undefined ? 0 : (state.reasons.get(id) ?? 0);
      if (id !== undefined) state.reasons.delete(id);
      if (error) reject(error);
      else resolve(reason);
    });
  });
}

/** The error that ended this client's connection, if one did (a reset says more than "closed"). */
export function lastMqttError(client: MqttClient): CourseError | undefined {
  return states.get(client)?.lastError;
}

/** The URL (as given) a client was connected with, for sentences about it. */
export function mqttUrlOf(client: MqttClient): string {
  return states.get(client)?.url ?? settings().mqttUrl;
}

/** Failures after which connecting again may help (not a refused login, not a wrong port). */
function worthReconnecting(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    code === 'CONNECTION_REFUSED' ||
    code === 'TIMEOUT' ||
    code === 'CLOSED_BY_BROKER' ||
    code === 'HOST_NOT_FOUND' ||
    // A reset before the CONNACK: RabbitMQ's port, or a broker in the middle of a restart.
    code === 'NOT_MQTT'
  );
}

/**
 * A connection the program reconnects by hand after a loss, for up to `reconnectSeconds`. The
 * publisher uses it instead of mqtt.js's own reconnect, which would replay the publishes of a batch
 * we have already rolled back, and buffer new ones in memory while the broker is away.
 */
export class MqttLink {
  #current: Promise<MqttClient>;
  readonly #dropped = new WeakSet<MqttClient>();

  private constructor(
    private readonly options: MqttOptions & { reconnectSeconds: number; signal: AbortSignal },
    first: MqttClient,
  ) {
    this.#current = Promise.resolve(first);
  }

  static async open(
    options: MqttOptions & { reconnectSeconds: number; signal: AbortSignal },
  ): Promise<MqttLink> {
    return new MqttLink(options, await connectMqtt(options));
  }

  /** The connected client; while reconnecting, waits; rejects once reconnecting has failed for good. */
  client(): Promise<MqttClient> {
    return this.#current;
  }

  /** A batch failed on `client`: drop that connection (the first caller does) and connect again. */
  lost(client: MqttClient): void {
    if (this.#dropped.has(client)) return;
    this.#dropped.add(client);
    client.end(true);
    const { reconnectSeconds, signal } = this.options;
    this.#current = retryFor(
      reconnectSeconds,
      signal,
      (remaining) =>
        connectMqtt({
          ...this.options,
          reconnecting: true,
          connectTimeoutSeconds: Math.min(remaining, this.options.connectTimeoutSeconds ?? 10),
        }),
      worthReconnecting,
    ).catch((error: CourseError) => {
      throw new CourseError(
        `${error.message.replace(/\.$/, '')} (gave up after ${reconnectSeconds} s of reconnecting; the batches in flight were rolled back, so their jobs are still due).`,
        { code: error.code, cause: error },
      );
    });
    this.#current.catch(() => {});
  }

  async close(): Promise<void> {
    const client = await this.#current.catch(() => undefined);
    await client?.endAsync().catch(() => {});
  }
}
