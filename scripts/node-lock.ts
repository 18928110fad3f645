// A lock file, so that starting, stopping and killing one RabbitMQ node never run at the same
// time, in one process or in several (two `npm run cluster` commands, a test and the learner).
// Taken with O_EXCL; it names its holder (pid and the process's start time, so a reused pid does
// not count as the holder). A lock whose holder has gone (killed, crashed) is stale and broken.
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';

/** The identity of process `pid`: its pid and start time, or undefined when there is no such process. */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); fields after the ')' that closes the command name start at field 3.
    return `${pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
  } catch {
    // No /proc (not Linux): the pid alone, if that process exists.
    try {
      process.kill(pid, 0);
      return `${pid}`;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM' ? `${pid}` : undefined;
    }
  }
}

const self = () => processIdentity(process.pid) ?? `${process.pid}`;

function tryCreate(file: string, content: string): boolean {
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, content);
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** A holder that is not the process it names (gone, or its pid reused) left a stale lock. */
function stale(content: string): boolean {
  const pid = Number(content.split(' ')[0]);
  return !pid || processIdentity(pid) !== content.trim();
}

/** Removes the lock if it is still the stale one seen, under a short guard so two breakers never race. */
function breakStale(file: string, seen: string): void {
  const guard = `${file}.break`;
  try {
    // A breaker killed between its two lines leaves its guard: one older than 10 s is its.
    if (Date.now() - statSync(guard).mtimeMs > 10_000) rmSync(guard, { force: true });
  } catch {
    // No guard: nobody is breaking the lock now.
  }
  if (!tryCreate(guard, self())) return;
  try {
    if (read(file) === seen) rmSync(file, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * Runs `action` holding the lock `file`; waits up to `waitMs` for another holder, then fails with
 * a sentence naming it. Not re-entrant: an action must not take the same lock again.
 */
export async function withLock<T>(
  file: string,
  what: string,
  action: () => Promise<T>,
  waitMs = 300_000,
): Promise<T> {
  const me = self();
  const started = Date.now();
  while (!tryCreate(file, me)) {
    const holder = read(file);
    if (holder !== undefined && stale(holder)) breakStale(file, holder);
    else if (Date.now() - started > waitMs)
      throw new Error(
        `${what} waited ${Math.round(waitMs / 1000)} s for process ${holder?.split(' ')[0] ?? '?'}, which holds ${file}: let it finish or stop it, then try again`,
      );
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    return await action();
  } finally {
    if (read(file) === me) rmSync(file, { force: true });
  }
}
