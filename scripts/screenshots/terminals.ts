// The terminals of a screenshot: one tmux window each, cols × rows, a bare `$ ` prompt, typed into
// as a learner types, read back with their colours (capture-pane -e) for terminal-render.ts.
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../../shared/repo-root.ts';
import type { Pane } from '../terminal-render.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The screen without its colour codes (ESC [ … m), for matching text. */
export const stripColours = (text: string) =>
  text.replaceAll(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');

export class Terminals {
  private windows: string[] = [];
  constructor(
    private readonly session: string,
    readonly cols: number,
    readonly rows: number,
  ) {
    this.close(); // a session left over from an interrupted run
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', args, { encoding: 'utf8' });
  }

  /** Opens a terminal of cols × rows with a bare `$ ` prompt. */
  private open(title: string): string {
    // NPM_CONFIG_LOGLEVEL hides this machine's own npm config warnings; npm's `> lesson` banner stays.
    const env = ['NPM_CONFIG_LOGLEVEL=error', 'PS1=$ ', 'TERM=xterm-256color', 'FORCE_COLOR=1'].flatMap(
      (e) => ['-e', e],
    );
    const shell = 'bash --norc --noprofile';
    if (this.windows.length === 0) {
      this.tmux(
        'new-session',
        '-d',
        '-s',
        this.session,
        '-x',
        String(this.cols),
        '-y',
        String(this.rows),
        ...env,
        '-c',
        repoRoot,
        shell,
      );
    } else {
      this.tmux('new-window', '-d', '-t', this.session, ...env, '-c', repoRoot, shell);
    }
    const target = `${this.session}:${this.windows.length}`;
    this.windows.push(title);
    this.tmux('set-option', '-t', this.session, 'status', 'off');
    this.type(target, "PS1='$ '; clear");
    return target;
  }

  /** Opens a terminal and, once its shell shows a clean prompt, types `command` into it. */
  async run(title: string, command: string): Promise<string> {
    const target = this.open(title);
    await this.waitFor(target, /^\s*\$\s*$/);
    this.type(target, command);
    return target;
  }

  type(target: string, text: string, enter = true): void {
    this.tmux('send-keys', '-t', target, '-l', text);
    if (enter) this.tmux('send-keys', '-t', target, 'Enter');
  }

  capture(target: string): string {
    return this.tmux('capture-pane', '-p', '-e', '-t', target);
  }

  /** Waits until the terminal shows `pattern` (a script, not a test: it polls the screen). */
  async waitFor(target: string, pattern: RegExp, seconds = 90): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!pattern.test(stripColours(this.capture(target)))) {
      if (Date.now() > deadline)
        throw new Error(`${target} never showed ${pattern}:\n${this.capture(target)}`);
      await sleep(200);
    }
  }

  /** True once the terminal's shell runs nothing: every program typed into it has exited. */
  private idle(target: string): boolean {
    return this.tmux('display-message', '-p', '-t', target, '#{pane_current_command}').trim() === 'bash';
  }

  /** Waits until the program in `target` has exited by itself (its --count reached, its work done). */
  async waitForExit(target: string, seconds = 90): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!this.idle(target)) {
      if (Date.now() > deadline) throw new Error(`${target} never exited:\n${this.capture(target)}`);
      await sleep(200);
    }
  }

  panes(): Pane[] {
    return this.windows.map((title, i) => ({ title, text: this.capture(`${this.session}:${i}`) }));
  }

  /** Ctrl+C in every terminal still running a program, then waits until each has exited. */
  async stopAll(): Promise<void> {
    const targets = this.windows.map((_, i) => `${this.session}:${i}`);
    for (const target of targets) if (!this.idle(target)) this.tmux('send-keys', '-t', target, 'C-c');
    for (const target of targets) await this.waitForExit(target, 30);
  }

  close(): void {
    try {
      execFileSync('tmux', ['kill-session', '-t', this.session], { stdio: 'ignore' });
    } catch {
      // no such session
    }
  }
}
