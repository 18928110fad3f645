// The one client of RabbitMQ's management HTTP API: its URL and login from RABBITMQ_MANAGEMENT_URL
// (else AMQP_URL's user), a timeout on every request, and failures as one sentence that says
// what to fix. The API is for humans and short-term figures: the broker samples it every 5 s.
import { managementAuth, settings } from './config.ts';
import { type ManagementFailure, managementApi } from './errors/management.ts';
import { CourseError, explain } from './errors.ts';
import { urlUser, urlVhost } from './urls.ts';

export interface ManagementOptions {
  /** Default RABBITMQ_MANAGEMENT_URL. */
  url?: string;
  /** The vhost queue paths use; default AMQP_URL's. */
  vhost?: string;
  /** Milliseconds before a request is given up. */
  timeoutMs?: number;
}

/** What the API says about one queue; figures the broker has not sampled yet are undefined. */
export interface QueueStats {
  messages?: number;
  ready?: number;
  unacked?: number;
  /** Cumulative counters since the queue was declared. */
  published?: number;
  delivered?: number;
  publishRate?: number;
  deliverRate?: number;
  consumers?: number;
  /** x-queue-type and the rest, as declared. */
  arguments: Record<string, unknown>;
}

export interface ConnectionInfo {
  name: string;
  /** What the client called itself (connect({ name })): how tests find a program's connection. */
  clientName?: string;
  user?: string;
}

export class ManagementClient {
  readonly base: string;
  readonly vhost: string;
  private readonly authorization: string;
  private readonly user: string;
  private readonly timeoutMs: number;

  constructor(options: ManagementOptions = {}) {
    const env = options.url ? { ...process.env, RABBITMQ_MANAGEMENT_URL: options.url } : process.env;
    let auth: ReturnType<typeof managementAuth>;
    try {
      auth = managementAuth(env);
    } catch (error) {
      throw new CourseError(
        'RABBITMQ_MANAGEMENT_URL is not a URL: write it as http://localhost:15672 (or http://user:password@host:15672).',
        { code: 'USAGE', exitCode: 2, cause: error },
      );
    }
    this.base = auth.base;
    this.authorization = auth.authorization;
    this.user = urlUser(settings(env).managementUrl) ?? urlUser(settings(env).amqpUrls[0] ?? '') ?? 'guest';
    this.vhost = options.vhost ?? urlVhost(settings(env).amqpUrls[0] ?? '');
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** GET or DELETE a path under /api; a 404 is `undefined`, anything else that fails is a CourseError. */
  async request(path: string, method: 'GET' | 'DELETE' = 'GET'): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}/api${path}`, {
        method,
        headers: { authorization: this.authorization },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw this.failure({ step: 'unreachable' }, reason(error), error);
    }
    if (response.status === 404) return undefined;
    if (!response.ok) throw this.failure({ status: response.status }, `${response.status} for ${path}`);
    if (method === 'DELETE') return null;
    try {
      return await response.json();
    } catch (error) {
      throw this.failure({ step: 'not-json' }, 'its answer is not JSON', error);
    }
  }

  /** One sentence from the management API's rows (errors/management.ts), the only place they live. */
  private failure(failure: ManagementFailure, message: string, cause?: unknown): CourseError {
    const error = Object.assign(new Error(message, { cause }), failure);
    return explain(error, { service: managementApi, url: this.base, user: this.user });
  }

  /** Proves the API answers and accepts our login (the monitor calls it once at start). */
  async overview(): Promise<{ version: string }> {
    const body = (await this.request('/overview')) as { rabbitmq_version?: string } | undefined;
    if (!body?.rabbitmq_version) throw this.failure({ step: 'not-json' }, 'it has no rabbitmq_version');
    return { version: body.rabbitmq_version };
  }

  /** One queue's figures; undefined when the API does not know the queue (yet). */
  async queue(name: string): Promise<QueueStats | undefined> {
    const q = (await this.request(`/queues/${enc(this.vhost)}/${enc(name)}`)) as RawQueue | undefined;
    if (!q) return undefined;
    const stats = q.message_stats ?? {};
    return {
      messages: q.messages,
      ready: q.messages_ready,
      unacked: q.messages_unacknowledged,
      published: stats.publish,
      delivered: stats.deliver_get,
      publishRate: stats.publish_details?.rate,
      deliverRate: stats.deliver_get_details?.rate,
      consumers: q.consumers,
      arguments: q.arguments ?? {},
    };
  }

  /**
   * The node that leads a quorum queue (or holds a classic one), as the API names it
   * (`course2@localhost`); undefined when the API does not know the queue.
   */
  async queueLeader(name: string): Promise<string | undefined> {
    const q = (await this.request(`/queues/${enc(this.vhost)}/${enc(name)}`)) as RawQueue | undefined;
    return q?.leader ?? q?.node;
  }

  /** The operating-system process id of one of the cluster's nodes (its Erlang VM), named as the API names it. */
  async nodePid(node: string): Promise<number | undefined> {
    const found = (await this.request(`/nodes/${enc(node)}`)) as { os_pid?: string } | undefined;
    return found?.os_pid ? Number(found.os_pid) : undefined;
  }

  /** Memory in use, summed over the cluster's nodes. */
  async memoryUsed(): Promise<number> {
    const nodes = ((await this.request('/nodes')) ?? []) as { mem_used?: number }[];
    return nodes.reduce((sum, node) => sum + (node.mem_used ?? 0), 0);
  }

  async connections(): Promise<ConnectionInfo[]> {
    const list = ((await this.request('/connections')) ?? []) as RawConnection[];
    return list.map((c) => ({
      name: c.name,
      clientName: c.client_properties?.connection_name,
      user: c.user,
    }));
  }

  /**
   * Closes a connection as the broker would (the client sees 320 CONNECTION_FORCED). False when
   * there was no such connection (it had closed already).
   */
  async closeConnection(name: string): Promise<boolean> {
    return (await this.request(`/connections/${enc(name)}`, 'DELETE')) !== undefined;
  }
}

interface RawQueue {
  /** A quorum queue's leader; `node` is a classic queue's home (and the leader's, on 3.10). */
  leader?: string;
  node?: string;
  messages?: number;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  arguments?: Record<string, unknown>;
  message_stats?: {
    publish?: number;
    deliver_get?: number;
    publish_details?: { rate?: number };
    deliver_get_details?: { rate?: number };
  };
}

interface RawConnection {
  name: string;
  user?: string;
  client_properties?: { connection_name?: string };
}

const enc = encodeURIComponent;

function reason(error: unknown): string {
  const err = error as { name?: string; cause?: { code?: string }; message?: string };
  if (err.name === 'TimeoutError') return 'timed out';
  return err.cause?.code ?? err.message ?? String(error);
}
