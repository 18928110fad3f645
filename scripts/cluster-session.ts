// Lesson 07's tests as a session of their own, for npm run test:cluster and npm run check: the
// cluster's state when the session opens is asked of its nodes; its steps (cluster up, jest) run as
// child processes one at a time; and however it ends — the tests done, Ctrl-C, a SIGTERM from an
// outer timeout — the running step is stopped and a cluster that was down before is stopped again.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { clusterNodes, down } from './cluster.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Whether any course node runs (registered with the cluster's epmd or among the processes). */
export async function clusterRunning(): Promise<boolean> {
  return (await Promise.all(clusterNodes().map((node) => node.running()))).some(Boolean);
}

export class ClusterSession {
  private child: ChildProcess | undefined;
  private closing: Promise<void> | undefined;
  private interrupted = false;
  private readonly onSignal = (signal: NodeJS.Signals) => void this.interrupt(signal);

  private constructor(readonly wasUp: boolean) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  static async open(): Promise<ClusterSession> {
    return new ClusterSession(await clusterRunning());
  }

  /** Runs one step; resolves with its exit status (128 + the signal's number if a signal ended it). */
  run(command: string, args: string[], options: SpawnOptions = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { stdio: 'inherit', ...options });
      this.child = child;
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        this.child = undefined;
        // Interrupted: the session exits once it has cleaned up; no further step may start.
        if (this.interrupted) return;
        resolve(code ?? 128 + (signal ? constants.signals[signal] : 1));
      });
    });
  }

  /** Stops the cluster if the session found it down (once, however often it is called). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
      if (this.wasUp) return;
      await down(say).catch((error: Error) => {
        say(`The cluster did not stop: ${error.message.split('\n')[0]}; run npm run cluster -- down.`);
        process.exitCode = 1;
      });
    })();
    return this.closing;
  }

  /** Ctrl-C or SIGTERM: the step stops (SIGKILL after 30 s), the cluster as found, then exit. */
  private async interrupt(signal: NodeJS.Signals): Promise<void> {
    if (this.interrupted) return;
    this.interrupted = true;
    say(`Interrupted (${signal}): stopping the tests and what they started.`);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await this.close();
    process.exit(128 + constants.signals[signal]);
  }
}
