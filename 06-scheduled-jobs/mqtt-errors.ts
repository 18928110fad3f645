// What the MQTT broker (or something pretending to be one) can do to a program, as one sentence
// that names the MQTT broker, never RabbitMQ or PostgreSQL. mqtt.js reports the broker's reason
// codes (a refused CONNACK or PUBACK) as an ErrorWithReasonCode whose `code` is the number, socket
// failures as errno strings, and its own and the protocol's trouble only as text.

import { errnoOf } from '../shared/errors/network.ts';
import type { CourseError, Explainer } from '../shared/errors.ts';
import { explain } from '../shared/errors.ts';

interface MqttishError {
  message?: unknown;
  code?: unknown;
  name?: unknown;
}

const fix = 'Start it with `npm run services`, or point MQTT_URL at your MQTT broker';

/** MQTT 5 reason codes a learner meets, in the words of the specification. */
export const reasonCodes: Record<number, string> = {
  16: 'No matching subscribers',
  128: 'Unspecified error',
  131: 'Implementation specific error',
  134: 'Bad user name or password',
  135: 'Not authorized',
  137: 'Server busy',
  139: 'Server shutting down',
  141: 'Keep alive timeout',
  142: 'Session taken over',
  144: 'Topic name invalid',
  147: 'Receive maximum exceeded',
  149: 'Packet too large',
  151: 'Quota exceeded',
  153: 'Payload format invalid',
};

/** `0x87 Not authorized`: how the publisher records a refusal next to the job. */
export function describeReason(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')} ${reasonCodes[code] ?? 'reason code'}`;
}

// mqtt.js raises these itself with no code, so they are known by their words: a URL it cannot use
// ('Missing protocol'), its two timeouts, a peer that does not speak MQTT (mqtt-packet's parser
// errors), and a connection that ended ('Connection closed', 'client disconnecting').
const badUrl = /Invalid URL|Missing protocol|Unknown protocol/i;
const notMqtt = /Invalid header|Invalid length|Packet too short|Invalid protocol|Unknown command|Malformed/i;
const closed = /Connection closed|client disconnecting/;

function keys(error: unknown): string[] {
  if (!error || typeof error !== 'object') return [];
  const { code, name } = error as MqttishError;
  const message = String((error as MqttishError).message ?? '');
  if (errnoOf(error) === 'ERR_INVALID_URL' || badUrl.test(message)) return ['mqtt:bad-url'];
  if (typeof code === 'number' && name === 'ErrorWithReasonCode') return [`mqtt:${code}`, 'mqtt:any'];
  if (message === 'connack timeout') return ['mqtt:connack-timeout'];
  if (message === 'Keepalive timeout') return ['mqtt:keepalive-timeout'];
  if (notMqtt.test(message)) return ['mqtt:not-mqtt'];
  if (code === 'ECONNRESET' || code === 'EPIPE' || closed.test(message)) return ['mqtt:closed'];
  return [];
}

const refused = {
  code: 'ACCESS_REFUSED',
  say: (f: { where: string; message: string }) =>
    `The MQTT broker${f.where} refused the login (${f.message}): check the user name and password in MQTT_URL.`,
};
const unavailable = {
  code: 'SERVER_UNAVAILABLE',
  say: (f: { where: string; message: string }) =>
    `The MQTT broker${f.where} is unavailable (${f.message}): run npm run services, then try again.`,
};

export const mqttBroker: Explainer = {
  service: 'the MQTT broker',
  setting: 'MQTT_URL',
  hint: 'is Mosquitto running? Start it with `npm run services`, or point MQTT_URL at your MQTT broker',
  keys,
  /** For a closed connection: the errno code when there is one (ECONNRESET), else the message. */
  detail: (error) => {
    const { code } = error as MqttishError;
    return typeof code === 'string' ? code : undefined;
  },
  rows: {
    'mqtt:bad-url': {
      code: 'USAGE',
      say: (f) =>
        `MQTT_URL is not a URL an MQTT client can use (${f.message}): write it as mqtt://host:1883.`,
    },
    // The CONNACK's refusals: 4 and 5 in MQTT 3.1.1, 0x86 and 0x87 in MQTT 5.
    'mqtt:4': refused,
    'mqtt:5': refused,
    'mqtt:134': refused,
    'mqtt:135': refused,
    'mqtt:3': unavailable,
    'mqtt:136': unavailable,
    'mqtt:any': {
      code: 'MQTT_REFUSED',
      say: (f) =>
        `The MQTT broker${f.where} refused what the program asked (${f.message}): look at Mosquitto's log for why, then run the program again.`,
    },
    'mqtt:connack-timeout': {
      code: 'TIMEOUT',
      say: (f) =>
        `The MQTT broker${f.where} accepted the connection but never answered the MQTT handshake${f.timeoutSeconds ? ` within ${f.timeoutSeconds} s` : ''}: is something else listening on that port, or is the broker stuck? ${fix}.`,
    },
    'mqtt:keepalive-timeout': {
      code: 'TIMEOUT',
      say: (f) =>
        `The MQTT broker${f.where} stopped answering (no reply to the keepalive ping): is it still running? ${fix}.`,
    },
    'mqtt:not-mqtt': {
      code: 'NOT_MQTT',
      say: (f) =>
        `Something${f.where} answered, but not in MQTT (${f.message}): is that another service's port (5672 is RabbitMQ's AMQP)? Point MQTT_URL at your MQTT broker, e.g. mqtt://localhost:1883.`,
    },
    'mqtt:closed': {
      code: 'CLOSED_BY_BROKER',
      say: (f) =>
        `The MQTT broker${f.where} closed the connection (${f.detail}): is it still running? ${fix}.`,
    },
  },
};

/** Always a CourseError whose one sentence names the MQTT broker at `url` and never shows a password. */
export function explainMqtt(error: unknown, url: string, connectTimeoutSeconds?: number): CourseError {
  return explain(error, {
    service: mqttBroker,
    url,
    ...(connectTimeoutSeconds !== undefined ? { timeoutSeconds: connectTimeoutSeconds } : {}),
  });
}
