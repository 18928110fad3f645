// Reading the parts of a configured URL that messages name (the user, the vhost).

/** The user name in a URL, for messages like "RabbitMQ refused the login for 'guest'". */
export function urlUser(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).username) || undefined;
  } catch {
    return undefined;
  }
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
