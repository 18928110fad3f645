// Where the pictures go and how a terminal scene becomes one: its panes drawn to PNG by headless
// Chromium (terminal-render.ts), every PNG this run wrote shrunk at the end (they are committed).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../shared/repo-root.ts';
import { renderPanes } from '../terminal-render.ts';
import { Terminals } from './terminals.ts';

export const out = join(repoRoot, 'screenshots');
export const say = (line: string) => process.stderr.write(`${line}\n`);

/** The PNGs this run wrote, shrunk at the end: they are committed to git. */
const written: string[] = [];
export const wrote = (file: string, size = '') => {
  written.push(join(out, file));
  say(`  screenshots/${file}${size}`);
};

/** 256 colours are plenty for terminal text and charts, at a third of the bytes (pngquant, if installed). */
export function shrinkWritten() {
  if (!written.length) return;
  if (!existsSync('/usr/bin/pngquant')) {
    say(
      'pngquant is not installed, so the PNGs stay full-colour (apt-get install pngquant makes them 3× smaller).',
    );
    return;
  }
  execFileSync('pngquant', ['--force', '--ext', '.png', '--quality', '65-90', '--speed', '1', ...written]);
}

/** Plays a scene in terminals of cols × rows and draws them, `columns` side by side, to `file`. */
export async function film(
  file: string,
  cols: number,
  rows: number,
  columns: number,
  play: (t: Terminals) => Promise<void>,
) {
  const terminals = new Terminals(`shots-${process.pid}`, cols, rows);
  try {
    await play(terminals);
    const size = await renderPanes(terminals.panes(), cols, rows, join(out, file), columns);
    wrote(file, ` (${size.width} × ${size.height})`);
  } finally {
    await terminals.stopAll().catch((error: Error) => say(error.message));
    terminals.close();
  }
}
