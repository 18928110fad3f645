// A scene types its lesson README's own commands, read through test/readme.ts: the sh blocks marked
// `<!-- readme-test: screenshot <picture> -->`. The scene names each command it types by a pattern
// that exactly one command of those blocks matches, and must type every command they hold: a README
// change then shows in the next picture, or stops the scene (and scripts/screenshots.test.ts) with
// a sentence, never a picture of commands the README no longer gives.
import { join } from 'node:path';
import { repoRoot } from '../../shared/repo-root.ts';
import { scenes as blocks, typed } from '../../test/readme.ts';

export interface Scene<K extends string = string> {
  /** The lesson folder: its README holds the commands; `npm run screenshots -- 02` picks by it. */
  lesson: string;
  /** The picture in screenshots/ the marked blocks name. */
  picture: string;
  /** Each command the scene types, by a pattern only that command of the marked blocks matches. */
  commands: Record<K, RegExp>;
  /** Makes the picture (and any other it writes) from the commands as the learner types them. */
  make(commands: Record<K, string>): Promise<void>;
}

export const defineScene = <K extends string>(scene: Scene<K>): Scene => scene as unknown as Scene;

export const readmeOf = (scene: Scene) => join(scene.lesson, 'README.md');

/** Every picture a README's blocks are marked for, with the line of each block. */
export function markers(readme: string): { picture: string; line: number }[] {
  return blocks(join(repoRoot, readme)).flatMap((block) =>
    block.screenshots.map((picture) => ({ picture, line: block.line })),
  );
}

/** The commands of the blocks marked for the scene's picture, in README order, as typed. */
export function markedCommands(scene: Scene): string[] {
  return blocks(join(repoRoot, readmeOf(scene)))
    .filter((block) => block.screenshots.includes(scene.picture))
    .flatMap((block) => block.steps.map((step) => typed(step.command)));
}

/** Each of the scene's commands, from its README; a sentence for each one that cannot be found. */
export function readCommands(scene: Scene): { commands: Record<string, string>; problems: string[] } {
  const marked = markedCommands(scene);
  const where = `${readmeOf(scene)} (blocks marked screenshot ${scene.picture})`;
  if (marked.length === 0) return { commands: {}, problems: [`${where} has no command.`] };
  const commands: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, pattern] of Object.entries(scene.commands)) {
    const found = [...new Set(marked.filter((command) => pattern.test(command)))];
    if (found.length === 1) commands[name] = found[0] ?? '';
    else problems.push(`${where}: ${found.length} different commands match ${name} ${pattern}.`);
  }
  const patterns = Object.values(scene.commands);
  for (const command of marked)
    if (!patterns.some((pattern) => pattern.test(command)))
      problems.push(`${where}: the scene does not type '${command}'.`);
  return { commands, problems };
}
