// Masking: a password never reaches the terminal, a log file or the hand-in, whatever shape its URL
// has. Passwords may hold @ / # : ? or spaces (encoded or not), sit in the query string
// (postgres://u@h/db?password=…, which pg honours), or come in a comma-separated node list; a value
// that still does not parse as a URL after masking is hidden whole.

const scheme = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Query parameters whose values are secrets (password, sslpassword, token, api_key…). */
const secretParam = /pass|pwd|secret|token|key|auth|cred/i;
/** A comma that starts the next URL of a node list (a comma inside a password does not). */
const nextUrl = /,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i;

/**
 * Where the user-info of `rest` (the URL after `scheme://`) ends: the last `@` before the first
 * `?`, else the last `@` at all (a password may hold `?`). -1 when there is no `@`.
 */
function userInfoEnd(rest: string): number {
  const query = rest.indexOf('?');
  const beforeQuery = query > 0 ? rest.lastIndexOf('@', query) : -1;
  return beforeQuery >= 0 ? beforeQuery : rest.lastIndexOf('@');
}

function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** One URL: user-info password, secret query values and fragments masked; `wholesale` hides what does not parse. */
function maskOne(url: string, wholesale: boolean): string {
  const prefix = scheme.exec(url)?.[0];
  if (!prefix) return wholesale ? '***' : url;
  let rest = url.slice(prefix.length);
  const at = userInfoEnd(rest);
  if (at >= 0) {
    const colon = rest.slice(0, at).indexOf(':');
    // Without a colon the user-info is a user name alone, which is no secret.
    if (colon >= 0) rest = `${rest.slice(0, colon)}:***${rest.slice(at)}`;
  }
  rest = rest.replace(/([?&;])([^=&;#]*)=([^&;#]*)/g, (whole, sep: string, key: string) =>
    secretParam.test(key) ? `${sep}${key}=***` : whole,
  );
  // A fragment is where a password's unencoded '#' sends the rest of it; the management UI's
  // own routes (#/queues) are kept.
  rest = rest.replace(/#(?!\/)(?!\*\*\*$).*$/s, '#***');
  const masked = prefix + rest;
  if (wholesale && !parses(masked)) return `${prefix}***`;
  return masked;
}

/**
 * A URL (or a comma-separated list of them, as AMQP_URL may be) fit to print:
 * `amqp://guest:p@ss@host` → `amqp://guest:***@host`; anything that does not parse as a URL
 * after masking is masked wholesale (`***`).
 */
export function maskUrl(url: string): string {
  return url
    .split(nextUrl)
    .map((part) => maskOne(part.trim(), true))
    .join(',');
}

/** URLs inside free text end at white space or quotes. */
const urlInText = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]*/gi;
/**
 * `scheme://user:pass word@host`: a password with spaces, which urlInText cuts short. What follows
 * the colon is not a port (digits, then the end of the URL), and the '@' is on the same line.
 */
const passwordWithSpaces =
  /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@'"()]*):(?!\*\*\*@)(?!\d+(?:[/?#\s'",.)\]]|$))(?:(?!:\/\/)[^@\n])*@/gi;
/** key=value pairs in connection strings and messages: password=…, token=… */
const secretPair =
  /\b((?:ssl)?password|passwd|pwd|pass|secret|token|api[_-]?key)=("[^"]*"|'[^']*'|[^\s&;,]*)/gi;

/** The URLs this process was configured with: their exact text is replaced before anything else. */
const configured = ['AMQP_URL', 'DATABASE_URL', 'MQTT_URL', 'RABBITMQ_MANAGEMENT_URL'] as const;

/** The secrets a URL carries (its password and secret query values), raw and percent-decoded. */
export function urlSecrets(url: string): string[] {
  const found = new Set<string>();
  for (const part of url.split(nextUrl)) {
    const prefix = scheme.exec(part.trim())?.[0];
    if (!prefix) continue;
    const rest = part.trim().slice(prefix.length);
    const at = userInfoEnd(rest);
    if (at >= 0) {
      const info = rest.slice(0, at);
      const colon = info.indexOf(':');
      const user = colon >= 0 ? info.slice(0, colon) : info;
      const password = colon >= 0 ? info.slice(colon + 1) : '';
      // guest:guest (or any user:user) is no secret, and masking it would hide the user name.
      if (password && password !== user) found.add(password);
    }
    for (const [, key, value] of rest.matchAll(/[?&;]([^=&;#]*)=([^&;#]*)/g)) {
      if (key && value && secretParam.test(key)) found.add(value);
    }
  }
  for (const secret of [...found]) {
    try {
      found.add(decodeURIComponent(secret));
    } catch {
      // not valid percent-encoding: the raw form is all there is
    }
    found.add(encodeURIComponent(secret));
  }
  // Very short strings would mask ordinary words; the structural masking still covers them in URLs.
  return [...found].filter((secret) => secret.length >= 4);
}

let cache: { key: string; urls: [string, string][]; secrets: string[] } | undefined;

/** The configured URLs (with their masked forms) and their secrets, longest first; worked out once per environment. */
function knownSecrets(env: NodeJS.ProcessEnv): { urls: [string, string][]; secrets: string[] } {
  const values = configured.map((name) => env[name]).filter((value): value is string => Boolean(value));
  const key = values.join('\n');
  if (cache?.key !== key) {
    const longestFirst = (a: string, b: string) => b.length - a.length;
    cache = {
      key,
      urls: [...values].sort(longestFirst).map((value) => [value, maskUrl(value)]),
      secrets: values.flatMap(urlSecrets).sort(longestFirst),
    };
  }
  return cache;
}

/**
 * Free text (an error message, a log line, a file for the hand-in) with every password removed:
 * the configured URLs and their passwords wherever they appear, user-info passwords of any URL,
 * and password=… pairs.
 */
export function maskSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  const known = knownSecrets(env);
  for (const [value, masked] of known.urls) out = out.split(value).join(masked);
  for (const secret of known.secrets) out = out.split(secret).join('***');
  out = out.replace(passwordWithSpaces, '$1:***@');
  out = out.replace(urlInText, (url) =>
    url
      .split(nextUrl)
      .map((part) => maskOne(part, false))
      .join(','),
  );
  return out.replace(secretPair, '$1=***');
}

/** Why a URL cannot be used as it is, or undefined when it can. Never quotes the URL. */
export function urlProblem(url: string, schemes: readonly string[]): string | undefined {
  const prefix = scheme.exec(url)?.[0];
  if (!prefix) return `it does not start with ${schemes.map((s) => `${s}://`).join(' or ')}`;
  const given = prefix.slice(0, -3).toLowerCase();
  if (!schemes.includes(given)) {
    return `its scheme is ${given}://, not ${schemes.map((s) => `${s}://`).join(' or ')}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it does not parse as a URL';
  }
  // An unencoded '/', '#' or '?' in the password ends the host early, leaving '@' in what follows.
  if (/@/.test(parsed.pathname + parsed.hash)) return 'part of it after the host holds an @';
  if (/\s/.test(url)) return 'it holds spaces';
  return undefined;
}

/** How to write a password that holds special characters, for the sentences that reject a URL. */
export const encodingHint =
  'percent-encode special characters in the user name and password (@ as %40, / as %2F, # as %23, ? as %3F, : as %3A, a space as %20)';
