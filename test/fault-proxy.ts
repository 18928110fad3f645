// For the fault tests only: a TCP proxy between a program and Mosquitto (or PostgreSQL) that a test can cut (a
// reset mid-batch), hold (the broker's answers stop coming back), silence (a broker that accepts
// and never answers) or refuse (the broker is down), then let through again.
import { once } from 'node:events';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

type Mode = 'forward' | 'refuse' | 'silent';

export interface FaultProxy {
  /** mqtt://127.0.0.1:<port>; for PostgreSQL, put `port` in DATABASE_URL. */
  url: string;
  port: number;
  /** Resets every open connection, as a broker crash or a network fault would. */
  cut(): void;
  /** Stops passing the broker's answers back; resolves once the program has sent more after that. */
  holdAnswers(): Promise<void>;
  /** Open connections stop carrying anything either way; new ones are accepted and never answered. */
  silence(): void;
  /** New connections are closed at once (the broker is down). */
  refuse(): void;
  /** New connections reach the broker again. */
  forward(): void;
  close(): Promise<void>;
}

export async function faultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  let mode: Mode = 'forward';
  let holding = false;
  let sentWhileHolding: () => void = () => {};
  const pairs = new Set<{ client: Socket; upstream?: Socket; quiet: boolean }>();

  const server = createServer((client) => {
    client.on('error', () => {});
    const pair: { client: Socket; upstream?: Socket; quiet: boolean } = { client, quiet: mode === 'silent' };
    pairs.add(pair);
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (mode === 'refuse') return void client.destroy();
    if (mode === 'silent') return; // accepted, never answered
    const upstream = tcpConnect(targetPort, targetHost);
    pair.upstream = upstream;
    upstream.on('error', () => {});
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      if (pair.quiet) return;
      upstream.write(chunk);
      if (holding) sentWhileHolding();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!pair.quiet && !holding) client.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    cut() {
      holding = false;
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.upstream?.destroy();
      }
    },
    holdAnswers() {
      holding = true;
      return new Promise((resolve) => {
        sentWhileHolding = resolve;
      });
    },
    silence() {
      mode = 'silent';
      for (const pair of pairs) pair.quiet = true;
    },
    refuse() {
      mode = 'refuse';
    },
    forward() {
      mode = 'forward';
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
