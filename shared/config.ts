// One place for the course's settings: environment variables with the defaults from DESIGN.md,
// and the masking that keeps passwords out of every line we print.

export const defaults = {
  amqpUrl: 'amqp://guest:guest@localhost:5672',
  managementUrl: 'http://localhost:15672',
  databaseUrl: 'postgres://postgres@localhost:5432/postgres',
  mqttUrl: 'mqtt://localhost:1883',
  metricsPort: 8000,
} as const;

/** Read at call time (not import time) so tests and programs can change the environment first. */
export function settings(env: NodeJS.ProcessEnv = process.env) {
  return {
    /** AMQP_URL may name several cluster nodes, comma-separated; they are tried in turn. */
    amqpUrls: splitUrls(env.AMQP_URL || defaults.amqpUrl),
    managementUrl: env.RABBITMQ_MANAGEMENT_URL || defaults.managementUrl,
    databaseUrl: env.DATABASE_URL || defaults.databaseUrl,
    mqttUrl: env.MQTT_URL || defaults.mqttUrl,
  };
}

export function splitUrls(list: string): string[] {
  return list
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0);
}

/** `amqp://guest:secret@host` → `amqp://guest:***@host`; anything unparsable is masked wholesale. */
export function maskUrl(url: string): string {
  return maskSecrets(url);
}

// user:password@ inside any scheme://… text, so a URL quoted inside an error message is masked too.
const credentialsInUrl = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@/\s]*)@/gi;

export function maskSecrets(text: string): string {
  return text.replace(credentialsInUrl, '$1:***@');
}

/** The user name in a URL, for messages like "RabbitMQ refused the login for 'guest'". */
export function urlUser(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).username) || undefined;
  } catch {
    return undefined;
  }
}

/** Credentials for the management API: its own URL's, else the AMQP URL's, else guest. */
export function managementAuth(env: NodeJS.ProcessEnv = process.env): {
  base: string;
  authorization: string;
} {
  const { managementUrl, amqpUrls } = settings(env);
  const management = new URL(managementUrl);
  let user = decodeURIComponent(management.username);
  let password = decodeURIComponent(management.password);
  if (!user) {
    try {
      const amqp = new URL(amqpUrls[0] ?? defaults.amqpUrl);
      user = decodeURIComponent(amqp.username) || 'guest';
      password = decodeURIComponent(amqp.password) || 'guest';
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

/** The vhost an AMQP URL names ('/' when the path is empty). */
export function urlVhost(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path && path !== '/' ? decodeURIComponent(path.slice(1)) : '/';
  } catch {
    return '/';
  }
}
