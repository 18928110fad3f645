// npm run broker -- restart: restarts the RabbitMQ application of the learner's broker (what
// `rabbitmqctl stop_app && rabbitmqctl start_app` does, without sudo), after saying which broker
// it is and which connections it will drop, and says when the broker answers again. The broker
// is AMQP_URL's and RABBITMQ_MANAGEMENT_URL's (so a test points it at a private node).
import { managementAuth, settings } from '../../shared/config.ts';
import {
  chalk,
  has,
  hostPort,
  isLocalHost,
  run,
  ServiceError,
  say,
  shownUrl,
  tcpOpen,
  waitFor,
} from './common.ts';

interface Overview {
  node: string;
  rabbitmq_version: string;
}

interface ConnectionRow {
  name: string;
  client_properties?: { connection_name?: string };
}

async function api<T>(base: string, authorization: string, path: string): Promise<T> {
  const response = await fetch(`${base}/api${path}`, {
    headers: { authorization },
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`${response.status} for ${path}`);
  return (await response.json()) as T;
}

/** Exit code: 0 restarted and answering, 1 it could not (one sentence says why). */
export async function restartBroker(): Promise<number> {
  const url = settings().amqpUrls[0];
  if (!url)
    throw new ServiceError(
      'AMQP_URL names no broker: set it to a URL such as amqp://guest:guest@localhost:5672.',
    );
  const { host, port } = hostPort(url, 5672, 'AMQP_URL');
  const { base, authorization } = managementAuth();
  if (!isLocalHost(host))
    throw new ServiceError(
      `The broker at ${shownUrl(url)} is not on this machine: restart it where it runs (this command uses rabbitmqctl, which talks to local nodes).`,
    );
  let overview: Overview;
  let connections: ConnectionRow[];
  try {
    overview = await api<Overview>(base, authorization, '/overview');
    connections = await api<ConnectionRow[]>(base, authorization, '/connections');
  } catch {
    throw new ServiceError(
      `RabbitMQ's management API does not answer at ${shownUrl(base)}, so this command cannot tell which broker it would restart: start it with npm run broker.`,
    );
  }
  if (!has('rabbitmqctl'))
    throw new ServiceError(
      'rabbitmqctl is not installed here: restart the broker the way it was started (its container, its service).',
    );
  const names = connections.map((c) => c.client_properties?.connection_name ?? c.name);
  const shownNames = names.slice(0, 5).join(', ') + (names.length > 5 ? ', …' : '');
  say(
    `Restarting RabbitMQ ${overview.rabbitmq_version}, node ${overview.node}, at ${shownUrl(url)}: ` +
      (names.length === 0
        ? 'no client is connected, so it drops no connection.'
        : `it drops ${names.length} connection${names.length === 1 ? '' : 's'} (${shownNames}); programs that reconnect will, the others end.`),
  );
  const started = Date.now();
  // The application only, not the Erlang node: what `rabbitmqctl stop_app; start_app` does. Durable
  // queues and persistent messages survive it; every connection is closed.
  await run('rabbitmqctl', ['-n', overview.node, 'stop_app']);
  await run('rabbitmqctl', ['-n', overview.node, 'start_app']);
  const answers = async () => {
    if (!(await tcpOpen(host, port))) return false;
    return api<Overview>(base, authorization, '/overview').then(
      () => true,
      () => false,
    );
  };
  if (!(await waitFor(answers, 90))) {
    say(
      chalk.red(
        `RabbitMQ ${overview.node} does not answer at ${shownUrl(url)} 90 s after its restart: see its log.`,
      ),
    );
    return 1;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  say(
    chalk.green(`RabbitMQ ${overview.node} answers again at ${shownUrl(url)} (restarted in ${seconds} s).`),
  );
  return 0;
}
