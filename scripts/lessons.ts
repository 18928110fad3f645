// Where the lessons and their programs are: read from the folders, so a new program appears
// in the menus without being registered anywhere.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../shared/repo-root.ts';

export interface Lesson {
  number: string;
  folder: string;
  title: string;
  /** The README's first paragraph. */
  summary: string;
  programs: string[];
}

export function lessons(): Lesson[] {
  return readdirSync(repoRoot)
    .filter((entry) => /^\d\d-/.test(entry))
    .sort()
    .map((folder) => lesson(folder.slice(0, 2))!)
    .filter(Boolean);
}

export function lesson(number: string): Lesson | undefined {
  const folder = readdirSync(repoRoot).find((entry) => entry.startsWith(`${number.padStart(2, '0')}-`));
  if (!folder) return undefined;
  const dir = join(repoRoot, folder);
  const readme = existsSync(join(dir, 'README.md')) ? readFileSync(join(dir, 'README.md'), 'utf8') : '';
  const title = /^#\s+(.+)$/m.exec(readme)?.[1] ?? folder;
  const summary =
    readme
      .split(/\n\s*\n/)
      .find((block) => block.trim() && !block.startsWith('#') && !block.startsWith('!')) ?? '';
  // A program is a .ts file that runs itself (runMain); helpers such as config.ts are not.
  const programs = readdirSync(dir)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .filter((file) => /\brunMain\(/.test(readFileSync(join(dir, file), 'utf8')))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
  return {
    number: folder.slice(0, 2),
    folder,
    title,
    summary: summary.trim().replace(/\s+/g, ' '),
    programs,
  };
}
