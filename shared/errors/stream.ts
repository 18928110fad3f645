// RabbitMQ's stream protocol (lesson 12), keyed on its response codes. rabbitmq-stream-js-client
// puts the code only in its message ("… returned error with code 2 - Stream does not exist"), so the
// code is read from there; the few failures it raises without a code are matched on their words.
import type { Explainer } from '../errors.ts';

function keys(error: unknown): string[] {
  const message = String((error as { message?: unknown })?.message ?? error);
  // The login's refusal comes as "Unable Authenticate -> 8", every other one as "… with code N".
  const code = /returned error with code (\d+)|^Unable Authenticate -> (\d+)/
    .exec(message)
    ?.slice(1)
    .find(Boolean);
  if (code) return [`stream:${code}`];
  if (/^Unknown response \d+/.test(message)) return ['stream:unknown-frame'];
  // The client reads a refused Open (an unknown virtual host, 12) as an accepted one and runs off
  // the end of the reply: that RangeError, raised in its OpenResponse, is the refusal.
  if (error instanceof RangeError && /OpenResponse/.test(error.stack ?? '')) return ['stream:12'];
  if (/^Stream was not found on any node/.test(message)) return ['stream:2'];
  return [];
}

export const rabbitmqStream: Explainer = {
  service: "RabbitMQ's stream protocol",
  setting: 'RABBITMQ_STREAM_URL',
  hint: 'is the stream plugin on? `npm run services` enables it (port 5552); else rabbitmq-plugins enable rabbitmq_stream, or point RABBITMQ_STREAM_URL at your broker',
  keys,
  rows: {
    'stream:2': {
      code: 'STREAM_NOT_FOUND',
      say: () =>
        'The stream does not exist: run the sender first (it declares the stream), or check the --stream name.',
    },
    'stream:6': {
      code: 'STREAM_NOT_AVAILABLE',
      say: () =>
        'The stream is not available right now (its leader is being elected or its node is down): run the program again in a few seconds.',
    },
    'stream:8': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `RabbitMQ${f.where} refused the login: check the user name and password in ${f.setting} (the guest user only works from localhost).`,
    },
    'stream:12': {
      code: 'UNKNOWN_VHOST',
      say: (f) =>
        `RabbitMQ${f.where} refused the virtual host: it does not exist or the user may not use it; fix the path at the end of ${f.setting}.`,
    },
    'stream:16': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `RabbitMQ refused the operation: the user in ${f.setting} may not do this here; grant it (rabbitmqctl set_permissions).`,
    },
    'stream:17': {
      code: 'STREAM_MISMATCH',
      say: () =>
        "A queue or stream of that name already exists with other settings (a classic or quorum queue, or other retention): delete it (the management UI's Queues tab, or rabbitmqctl delete_queue NAME) or pick another --stream name.",
    },
    'stream:unknown-frame': {
      code: 'UNKNOWN_FRAME',
      say: (f) =>
        `${f.service}${f.where} did not understand the client (${f.message}): is that port RabbitMQ's stream port (5552), and the broker 3.9 or later?`,
    },
  },
};
