// One place for the course's settings: environment variables with the course's defaults (below),
// each checked when it is read, so a URL that would be misread (a password with an unencoded
// '/' or '#') ends in one sentence instead of a connection to the wrong host.
import { CourseError } from './errors.ts';
import { encodingHint, maskUrl, urlProblem } from './secrets.ts';

export const defaults = {
  amqpUrl: 'amqp://guest:guest@localhost:5672',
  managementUrl: 'http://localhost:15672',
  databaseUrl: 'postgres://postgres@localhost:5432/postgres',
  mqttUrl: 'mqtt://localhost:1883',
  streamUrl: 'rabbitmq-stream://guest:guest@localhost:5552',
  metricsPort: 8000,
} as const;

/** The schemes each setting accepts. */
const schemes = {
  AMQP_URL: ['amqp', 'amqps'],
  RABBITMQ_MANAGEMENT_URL: ['http', 'https'],
  DATABASE_URL: ['postgres', 'postgresql'],
  MQTT_URL: ['mqtt', 'mqtts', 'tcp', 'ssl', 'ws', 'wss'],
  RABBITMQ_STREAM_URL: ['rabbitmq-stream'],
} as const;

const services: Record<keyof typeof schemes, string> = {
  AMQP_URL: 'RabbitMQ',
  RABBITMQ_MANAGEMENT_URL: 'the RabbitMQ management API',
  DATABASE_URL: 'PostgreSQL',
  MQTT_URL: 'the MQTT broker',
  RABBITMQ_STREAM_URL: "RabbitMQ's stream protocol",
};

/** How each URL looks; the login goes before the host (an example with a password would be masked). */
const examples: Record<keyof typeof schemes, string> = {
  AMQP_URL: 'amqp://localhost:5672',
  RABBITMQ_MANAGEMENT_URL: 'http://localhost:15672',
  DATABASE_URL: 'postgres://localhost:5432/database',
  MQTT_URL: 'mqtt://localhost:1883',
  RABBITMQ_STREAM_URL: 'rabbitmq-stream://localhost:5552',
};

/**
 * The URL as given, or a CourseError (BAD_URL, exit 1) that says what is wrong without quoting the
 * password. `given` names where it came from when that is not the variable (a --url flag).
 */
export function checkUrl(name: keyof typeof schemes, url: string, given: string = name): string {
  const problem = urlProblem(url, schemes[name]);
  if (!problem) return url;
  throw new CourseError(
    `${given} is not a URL ${services[name]} can use (${maskUrl(url)}: ${problem}): write it as ${examples[name]}, with user:password@ before the host, and ${encodingHint}.`,
    { code: 'BAD_URL' },
  );
}

/**
 * Read at call time (not import time) so tests and programs can change the environment first.
 * Each URL is checked when it is read, so a bad MQTT_URL does not stop a lesson that never uses it.
 */
export function settings(env: NodeJS.ProcessEnv = process.env) {
  return {
    /** AMQP_URL may name several cluster nodes, comma-separated; they are tried in turn. */
    get amqpUrls(): string[] {
      return splitUrls(env.AMQP_URL || defaults.amqpUrl).map((url) => checkUrl('AMQP_URL', url));
    },
    get managementUrl(): string {
      return checkUrl('RABBITMQ_MANAGEMENT_URL', env.RABBITMQ_MANAGEMENT_URL || defaults.managementUrl);
    },
    get databaseUrl(): string {
      return checkUrl('DATABASE_URL', env.DATABASE_URL || defaults.databaseUrl);
    },
    get mqttUrl(): string {
      return checkUrl('MQTT_URL', env.MQTT_URL || defaults.mqttUrl);
    },
    /** Lesson 12's stream protocol (port 5552), beside AMQP on the same broker. */
    get streamUrl(): string {
      return checkUrl('RABBITMQ_STREAM_URL', env.RABBITMQ_STREAM_URL || defaults.streamUrl);
    },
  };
}

/** Splits a node list at the commas that start another URL (a comma inside a password stays). */
export function splitUrls(list: string): string[] {
  return list
    .split(/,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i)
    .map((url) => url.trim())
    .filter((url) => url.length > 0);
}

/** Credentials for the management API: its own URL's, else the AMQP URL's, else guest. */
export function managementAuth(env: NodeJS.ProcessEnv = process.env): {
  base: string;
  authorization: string;
} {
  const management = new URL(settings(env).managementUrl);
  let user = decode(management.username);
  let password = decode(management.password);
  if (!user) {
    try {
      const amqp = new URL(settings(env).amqpUrls[0] ?? defaults.amqpUrl);
      user = decode(amqp.username) || 'guest';
      password = decode(amqp.password) || 'guest';
    } catch {
      user = 'guest';
      password = 'guest';
    }
  }
  management.username = '';
  management.password = '';
  return {
    base: management.toString().replace(/\/$/, ''),
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  };
}

/** Percent-decoding that keeps a malformed sequence (p%zz) as written instead of throwing. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
