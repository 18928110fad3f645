// Erlang's port mapper asked over its own TCP protocol (NAMES_REQ, KILL_REQ), so the cluster tool
// learns which nodes are registered from the epmd itself, within a bound, without a pid file and
// without spawning the epmd program. https://www.erlang.org/doc/apps/erts/erl_dist_protocol
import { connect } from 'node:net';

const NAMES_REQ = 110;
const KILL_REQ = 107;

/** Sends one request; resolves with everything epmd answered (it closes after), undefined if no epmd. */
function request(port: number, code: number, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`the epmd on port ${port} did not answer within ${timeoutMs / 1000} s`));
    });
    socket.once('connect', () => socket.end(Buffer.from([0, 1, code]))); // 2-byte length, then the request
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(undefined);
      else reject(error);
    });
  });
}

/**
 * The nodes registered with the epmd on `port` (short name → distribution port); undefined when
 * no epmd listens there.
 */
export async function epmdNames(port: number, timeoutMs = 5_000): Promise<Map<string, number> | undefined> {
  const answer = await request(port, NAMES_REQ, timeoutMs);
  if (answer === undefined) return undefined;
  // The answer: epmd's own port (4 bytes), then one line per node, "name N at port P".
  const names = new Map<string, number>();
  for (const match of answer
    .subarray(4)
    .toString('latin1')
    .matchAll(/^name (\S+) at port (\d+)$/gm))
    names.set(match[1]!, Number(match[2]));
  return names;
}

/**
 * Stops the epmd on `port` when no node is registered with it (epmd itself refuses otherwise).
 * Resolves true when no epmd listens there any more.
 */
export async function killEpmd(port: number, timeoutMs = 5_000): Promise<boolean> {
  const answer = await request(port, KILL_REQ, timeoutMs);
  if (answer === undefined) return true;
  if (answer.toString('latin1') !== 'OK') return false;
  // It answered OK and exits: wait (bounded) until its port is closed.
  for (const started = Date.now(); Date.now() - started < timeoutMs; ) {
    if ((await epmdNames(port, timeoutMs).catch(() => new Map())) === undefined) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
