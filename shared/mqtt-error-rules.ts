// The MQTT broker's failures as sentences, keyed on the reason code of its CONNACK or PUBACK
// (mqtt.js raises an ErrorWithReasonCode carrying it as `code`; MQTT 3.1.1 codes are 1–5).
import type { RuleTable } from './errors.ts';

function keys(error: unknown): string[] {
  if (!error || typeof error !== 'object') return [];
  const { code, name } = error as { code?: unknown; name?: unknown };
  if (typeof code === 'number' && name === 'ErrorWithReasonCode') return [`mqtt:${code}`, 'mqtt:any'];
  return [];
}

const refused = {
  code: 'ACCESS_REFUSED',
  say: (f: { where: string }) =>
    `The MQTT broker${f.where} refused the login: check the user name and password in MQTT_URL.`,
};

export const mqttRules: RuleTable = {
  keys,
  rules: {
    'mqtt:4': refused,
    'mqtt:5': refused,
    'mqtt:134': refused,
    'mqtt:135': refused,
    'mqtt:3': {
      code: 'SERVER_UNAVAILABLE',
      say: (f) =>
        `The MQTT broker${f.where} is unavailable (${f.detail}): run npm run services, then try again.`,
    },
    'mqtt:136': {
      code: 'SERVER_UNAVAILABLE',
      say: (f) =>
        `The MQTT broker${f.where} is unavailable (${f.detail}): run npm run services, then try again.`,
    },
    'mqtt:any': {
      code: 'MQTT_REFUSED',
      say: (f) =>
        `The MQTT broker${f.where} refused what the program asked (${f.detail}): look at Mosquitto's log for why, then run the program again.`,
    },
  },
};
