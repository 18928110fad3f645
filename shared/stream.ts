// The stream protocol's client for lesson 12 (rabbitmq-stream-js-client), pointed at the course's
// RABBITMQ_STREAM_URL and made to speak to RabbitMQ 3.10 as well as 4.x. What the lesson teaches
// (createStream, declarePublisher, declareConsumer, storeOffset) stays in the lesson's files.
import type { Socket } from 'node:net';
import { type Client, connect } from 'rabbitmq-stream-js-client';
import { Connection as StreamSocket } from 'rabbitmq-stream-js-client/dist/connection.js';
import { settings } from './config.ts';
import { rabbitmqStream } from './errors/stream.ts';
import { explain, withTimeout } from './errors.ts';
import type { Log } from './logger.ts';

interface Handshake {
  peerProperties: { version?: string };
  exchangeCommandVersions(): Promise<unknown>;
}

// The client's first request after the login, ExchangeCommandVersions, came with RabbitMQ 3.11;
// 3.10 answers it with "unknown frame" and closes the connection (the client throws "Unknown
// response 22"). Below 3.11 there is nothing to exchange: every command is at version 1, which is
// what the client assumes when the server declared no versions. 3.11 and later are asked as usual.
const handshake = StreamSocket.prototype as unknown as Handshake;
const exchangeCommandVersions = handshake.exchangeCommandVersions;
handshake.exchangeCommandVersions = async function (this: Handshake) {
  const [major = 0, minor = 0] = (this.peerProperties.version ?? '').split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 11)) return true;
  return exchangeCommandVersions.call(this);
};

// The client leaves Nagle's algorithm on: a small write (a stored offset) then holds back the
// next small one (the credit for the next chunk) until the server's delayed ACK, some 40 ms.
// Measured with offset-tracking-receive reading 20000 messages and storing every 10: 8.3 s with
// it on, 0.9 s with it off. Off for every socket the client opens.
interface SocketMaker {
  createSocket(): Socket;
}
const sockets = StreamSocket.prototype as unknown as SocketMaker;
const createSocket = sockets.createSocket;
sockets.createSocket = function (this: SocketMaker) {
  return createSocket.call(this).setNoDelay(true);
};

/** Host, port, login and virtual host of RABBITMQ_STREAM_URL (default localhost:5552, guest). */
export function streamParams(url = settings().streamUrl) {
  const parsed = new URL(url);
  const vhost = decodeURIComponent(parsed.pathname.slice(1)) || '/';
  return {
    hostname: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || 5552),
    username: decodeURIComponent(parsed.username) || 'guest',
    password: decodeURIComponent(parsed.password) || 'guest',
    vhost,
  };
}

export interface StreamConnectOptions {
  log: Log;
  /** The connection's name in the management UI. */
  name: string;
  /** Called once when the connection is lost (not when the program closes it). */
  onClosed?: () => void;
}

/**
 * A client connected to the stream port, or a CourseError in one sentence. Every publisher and
 * consumer connects to the URL's own host and port (the address resolver): without it the client
 * follows the host name the broker advertises, which a learner's machine may not resolve.
 */
export async function streamConnect({ log, name, onClosed }: StreamConnectOptions): Promise<Client> {
  const url = settings().streamUrl;
  const params = streamParams(url);
  let closedByUs = false;
  try {
    const client = await withTimeout(
      connect({
        ...params,
        connectionName: name,
        heartbeat: 10,
        addressResolver: { enabled: true },
        listeners: {
          connection_closed: () => {
            if (!closedByUs) onClosed?.();
          },
        },
      }),
      10_000,
      "Connecting to RabbitMQ's stream port",
    );
    const close = client.close.bind(client);
    client.close = async (params) => {
      closedByUs = true;
      // A connection the broker already dropped may never answer the close: wait 5 s at most
      // (the timer also keeps Node running, which a promise alone does not).
      await withTimeout(close(params), 5000, 'Closing the stream connection').catch((error) =>
        log.debug(`closing the stream client: ${error}`),
      );
    };
    log.debug(`connected to the stream port ${params.hostname}:${params.port}`);
    return client;
  } catch (error) {
    throw explain(error, { service: rabbitmqStream, url });
  }
}
