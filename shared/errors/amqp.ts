// RabbitMQ's failures as sentences, keyed on the AMQP reply code of the close that carried them
// (amqplib puts it on the error as `code`, with classId/methodId for a channel's close).
import type { Explainer, Facts } from '../errors.ts';
import { encodingHint } from '../secrets.ts';
import { urlUser, urlVhost } from '../urls.ts';

interface AmqpError {
  code?: unknown;
  classId?: unknown;
  message?: unknown;
  name?: unknown;
}

/** amqplib writes a close as `<code> (<NAME>) with message "<reply text>"`. */
const closeText = /(\d{3}) \([A-Z-]+\) with message "(.*)"/s;

/** The broker's reply text, e.g. `NOT_FOUND - no queue 'orders' in vhost '/'`. */
function replyText(error: unknown): string | undefined {
  return closeText.exec(String((error as AmqpError)?.message ?? ''))?.[2];
}

/** The reply code: amqplib's `code`, or, during the handshake (no `code` set), the close it quotes. */
function replyCode(error: AmqpError, message: string): number | undefined {
  if (typeof error.code === 'number') return error.code;
  const handshake = /^Handshake terminated by server: (\d{3}) /.exec(message)?.[1];
  if (handshake) return Number(handshake);
  // The broker refusing connection.open arrives as an unexpected close frame, whose fields amqplib
  // does not print; RabbitMQ refuses connection.open only with 530 NOT_ALLOWED (no such vhost, or
  // no access to it).
  if (message.startsWith('Expected ConnectionOpenOk; got <ConnectionClose')) return 530;
  return undefined;
}

/** The refinements RabbitMQ gives one reply code, read from the start of its reply text. */
function kind(code: number, reply: string): string | undefined {
  if (code === 404) return /^NOT_FOUND - no (queue|exchange) /.exec(reply)?.[1];
  if (code === 406 && /^PRECONDITION_FAILED - inequivalent arg '[^']+' for exchange /.test(reply))
    return 'inequivalent-exchange';
  if (code === 406 && reply.startsWith('PRECONDITION_FAILED - inequivalent arg')) return 'inequivalent';
  if (code === 403 && /contains reserved prefix/.test(reply)) return 'reserved-prefix';
  if (code === 406 && reply.startsWith('PRECONDITION_FAILED - unknown delivery tag')) return 'delivery-tag';
  if (code === 406 && reply.startsWith('PRECONDITION_FAILED - consumer prefetch count is not set'))
    return 'no-prefetch';
  return undefined;
}

function keys(error: unknown): string[] {
  if (!error || typeof error !== 'object') return [];
  const err = error as AmqpError;
  const message = String(err.message ?? '');
  const code = replyCode(err, message);
  if (code !== undefined) {
    const level =
      err.classId !== undefined || message.startsWith('Operation failed') ? 'channel' : 'connection';
    const refined = kind(code, replyText(error) ?? '');
    return [
      ...(refined ? [`amqp:${code}:${refined}`] : []),
      `amqp:${level}:${code}`,
      `amqp:${code}`,
      'amqp:closed-by-broker',
    ];
  }
  // Errors amqplib raises itself carry no code: its error class, or its fixed messages.
  if (err.name === 'IllegalOperationError') return ['amqp:closed'];
  if (
    /^(Channel ended, no reply will be forthcoming|channel closed|Channel closed|Connection closed)$/.test(
      message,
    )
  )
    return ['amqp:closed'];
  if (message === 'connect ETIMEDOUT') return ['amqp:connect-timeout'];
  // Something at that port accepted the connection but did not speak AMQP (an HTTP or database port).
  if (message === 'Socket closed abruptly during opening handshake') return ['amqp:not-amqp'];
  if (message.startsWith('Expected amqp: or amqps: as the protocol')) return ['amqp:bad-scheme'];
  return [];
}

const quoted = (text: string, pattern: RegExp) => pattern.exec(text)?.[1];
const closedByBroker = (f: Facts) =>
  `RabbitMQ closed the connection or channel (${f.detail}): look at the broker's log or the management UI for why, then run the program again.`;

export const rabbitmq: Explainer = {
  service: 'RabbitMQ',
  setting: 'AMQP_URL',
  hint: 'is the broker running? Start it with `npm run services`, or point AMQP_URL at your broker',
  keys,
  detail: replyText,
  rows: {
    'amqp:connection:403': {
      code: 'ACCESS_REFUSED',
      say: (f) => {
        const user = f.url ? urlUser(f.url) : undefined;
        return `RabbitMQ${f.where} refused the login${user ? ` for user '${user}'` : ''}: check the user name and password in ${f.setting} (the guest user only works from localhost; create another user for remote access).`;
      },
    },
    'amqp:channel:403': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `RabbitMQ refused the operation (${f.detail}): the user in ${f.setting} may not do this here; grant it (rabbitmqctl set_permissions) or change what the program asks.`,
    },
    'amqp:connection:530': {
      code: 'UNKNOWN_VHOST',
      say: (f) => {
        const vhost = f.url ? urlVhost(f.url) : `named in ${f.setting}`;
        return `RabbitMQ${f.where} refused the virtual host '${vhost}': it does not exist or the user may not use it; create it (rabbitmqctl add_vhost ${vhost}) or fix the path at the end of ${f.setting}.`;
      },
    },
    'amqp:404:queue': {
      code: 'QUEUE_NOT_FOUND',
      say: (f) => {
        const queue = quoted(f.detail, /no queue '([^']*)'/);
        return `The queue '${queue}' does not exist: start the program that declares it first, or check the --queue name.`;
      },
    },
    'amqp:404:exchange': {
      code: 'EXCHANGE_NOT_FOUND',
      say: (f) => {
        const exchange = quoted(f.detail, /no exchange '([^']*)'/);
        return `The exchange '${exchange}' does not exist: start the program that declares it first, or check its name.`;
      },
    },
    'amqp:404': {
      code: 'NOT_FOUND',
      say: (f) =>
        `RabbitMQ did not find what the program asked for (${f.detail}): start the program that declares it first, or check the name.`,
    },
    'amqp:405': {
      code: 'RESOURCE_LOCKED',
      say: (f) =>
        `RabbitMQ refused because another connection holds the queue exclusively (${f.detail}): stop the program that holds it, or use another --queue name.`,
    },
    'amqp:406:inequivalent': {
      code: 'QUEUE_MISMATCH',
      say: (f) => {
        const [, arg, queue, wanted, current] =
          /inequivalent arg '([^']+)' for queue '([^']+)'[^:]*: received (.+?) but current is (.+?)$/.exec(
            f.detail,
          ) ?? [];
        return `The queue '${queue}' already exists with other settings (${arg} is ${current}, this program asks for ${wanted}): delete it (rabbitmqctl delete_queue ${queue}, or the management UI's Queues tab) or pick another name with --queue.`;
      },
    },
    'amqp:406:inequivalent-exchange': {
      code: 'EXCHANGE_MISMATCH',
      say: (f) => {
        const [, arg, exchange, wanted, current] =
          /inequivalent arg '([^']+)' for exchange '([^']+)'[^:]*: received '?(.+?)'? but current is '?(.+?)'?$/.exec(
            f.detail,
          ) ?? [];
        return `The exchange '${exchange}' already exists with other settings (${arg} is ${current}, this program asks for ${wanted}): delete it (rabbitmqctl delete_exchange ${exchange}, or the management UI's Exchanges tab) or pick another name with --exchange.`;
      },
    },
    'amqp:403:reserved-prefix': {
      code: 'RESERVED_NAME',
      say: (f) => {
        const name = quoted(f.detail, /name '([^']*)'/);
        return `The name '${name}' starts with 'amq.', which RabbitMQ keeps for its own exchanges and queues: choose a name without that prefix.`;
      },
    },
    'amqp:406:no-prefetch': {
      code: 'NO_PREFETCH',
      say: (f) =>
        `RabbitMQ refused the consumer (${f.detail}): a stream's AMQP 0-9-1 consumer must set a prefetch first (channel.prefetch, or --prefetch 100).`,
    },
    'amqp:406:delivery-tag': {
      code: 'UNKNOWN_DELIVERY_TAG',
      say: (f) =>
        `RabbitMQ closed the channel because a message was acknowledged twice or on another channel (${f.detail}): ack each message once, on the channel it came on.`,
    },
    'amqp:406': {
      code: 'PRECONDITION_FAILED',
      say: (f) =>
        `RabbitMQ refused an operation (${f.detail}): a queue or exchange of that name probably exists with other settings; delete it or use another name.`,
    },
    'amqp:320': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `RabbitMQ closed the connection (${f.detail}): someone closed it in the management UI, or the broker is shutting down; run the program again once the broker is up.`,
    },
    'amqp:540': {
      code: 'NOT_IMPLEMENTED',
      say: (f) =>
        `RabbitMQ does not support what the program asked for (${f.detail}): on a quorum queue, drop global prefetch and other classic-queue features.`,
    },
    'amqp:541': {
      code: 'BROKER_INTERNAL_ERROR',
      say: (f) =>
        `RabbitMQ closed the connection with an internal error (${f.detail}): look at the broker's log; on RabbitMQ 4 a non-durable, non-exclusive queue is a common cause (declare it durable).`,
    },
    'amqp:closed-by-broker': { code: 'CLOSED_BY_BROKER', say: closedByBroker },
    'amqp:closed': {
      code: 'CHANNEL_CLOSED',
      say: (f) =>
        `The connection to ${f.service} closed while the program was still using it (${f.message}): run the program again; if it keeps happening, look at the broker's log.`,
    },
    'amqp:connect-timeout': {
      code: 'TIMEOUT',
      say: (f) =>
        `RabbitMQ${f.where} did not finish opening the connection in time: check that the host and port are RabbitMQ's AMQP port (5672), not another service's.`,
    },
    'amqp:not-amqp': {
      code: 'NOT_AMQP',
      say: (f) =>
        `Something${f.where} closed the connection during the AMQP handshake: check that the port is RabbitMQ's AMQP port (5672), not the management UI's (15672) or another service's.`,
    },
    'amqp:bad-scheme': {
      code: 'BAD_URL',
      say: (f) =>
        `${f.setting} is not a URL RabbitMQ can use: write it as amqp://localhost:5672, with user:password@ before the host, and ${encodingHint}.`,
    },
  },
};
