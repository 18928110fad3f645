// What the MQTT broker (or something pretending to be one) can do to a program, as one sentence
// that names the MQTT broker, never RabbitMQ or PostgreSQL. mqtt.js reports MQTT 5 reason codes
// as numbers in `code`, socket failures as errno strings, and protocol trouble only as text.

import { CourseError, explain } from '../shared/errors.ts';
import { maskUrl } from '../shared/secrets.ts';

interface MqttishError {
  message?: string;
  code?: string | number;
}

const fix = 'start it with `npm run services`, or point MQTT_URL at your MQTT broker';

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

/** Always a CourseError whose one sentence names the MQTT broker and never shows a password. */
export function explainMqtt(error: unknown, url: string, connectTimeoutSeconds?: number): CourseError {
  if (error instanceof CourseError) return error;
  const err = (error ?? {}) as MqttishError;
  const message = String(err.message ?? error);
  const where = ` at ${maskUrl(url)}`;
  const make = (code: string, sentence: string) => new CourseError(sentence, { code, cause: error });

  if (err.code === 'ERR_INVALID_URL' || /Invalid URL|Missing protocol|Unknown protocol/i.test(message)) {
    return make(
      'USAGE',
      `MQTT_URL is not a URL an MQTT client can use (${message}): write it as mqtt://host:1883.`,
    );
  }
  if (typeof err.code === 'number' && [0x04, 0x05, 0x86, 0x87].includes(err.code)) {
    return make(
      'ACCESS_REFUSED',
      `The MQTT broker${where} refused the login (${message}): check the user name and password in MQTT_URL.`,
    );
  }
  if (message === 'connack timeout') {
    return make(
      'TIMEOUT',
      `The MQTT broker${where} accepted the connection but never answered the MQTT handshake${connectTimeoutSeconds ? ` within ${connectTimeoutSeconds} s` : ''}: is something else listening on that port, or is the broker stuck? ${capital(fix)}.`,
    );
  }
  if (message === 'Keepalive timeout') {
    return make(
      'TIMEOUT',
      `The MQTT broker${where} stopped answering (no reply to the keepalive ping): is it still running? ${capital(fix)}.`,
    );
  }
  if (
    /Invalid header|Invalid length|Packet too short|Invalid protocol|Unknown command|Malformed/i.test(message)
  ) {
    return make(
      'NOT_MQTT',
      `Something${where} answered, but not in MQTT (${message}): is that another service's port (5672 is RabbitMQ's AMQP)? Point MQTT_URL at your MQTT broker, e.g. mqtt://localhost:1883.`,
    );
  }
  if (
    err.code === 'ECONNRESET' ||
    err.code === 'EPIPE' ||
    /Connection closed|client disconnecting/.test(message)
  ) {
    return make(
      'CLOSED_BY_BROKER',
      `The MQTT broker${where} closed the connection (${err.code ?? message}): is it still running? ${capital(fix)}.`,
    );
  }
  return explain(error, { service: 'the MQTT broker', url });
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
