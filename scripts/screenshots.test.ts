// The screenshots type the READMEs' commands: every command a scene types is found in the blocks
// of its README marked for its picture, every command of those blocks is typed, and every marker
// in a README names a scene of that README. No tmux, no browser, no broker: this reads the READMEs.
import { readdirSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { repoRoot } from '../shared/repo-root.ts';
import { markedCommands, markers, readCommands, readmeOf } from './screenshots/commands.ts';
import { scenes } from './screenshots/scenes.ts';

const lessons = readdirSync(repoRoot).filter((entry) => /^\d\d-/.test(entry));

describe('npm run screenshots', () => {
  test('has one scene per lesson, each for its own picture', () => {
    expect(scenes.map((scene) => scene.lesson).sort()).toEqual(lessons.sort());
    expect(new Set(scenes.map((scene) => scene.picture)).size).toBe(scenes.length);
  });

  test.each(scenes.map((scene) => [scene.lesson, scene] as const))(
    '%s: every command it types is in its README, and it types every command marked for its picture',
    (_lesson, scene) => {
      expect(markedCommands(scene).length).toBeGreaterThan(0);
      const { commands, problems } = readCommands(scene);
      expect(problems).toEqual([]);
      expect(Object.keys(commands).sort()).toEqual(Object.keys(scene.commands).sort());
    },
  );

  test.each(['README.md', ...lessons.map((lesson) => `${lesson}/README.md`)])(
    '%s: every screenshot marker names a scene of this README',
    (readme) => {
      const ours = scenes.filter((scene) => readmeOf(scene) === readme).map((scene) => scene.picture);
      expect(markers(readme).filter(({ picture }) => !ours.includes(picture))).toEqual([]);
    },
  );

  test('a README change shows as a sentence naming the README and the command', () => {
    const scene = scenes.find((s) => s.lesson === '01-hello-world')!;
    const renamed = { ...scene, commands: { ...scene.commands, receive: /-- receive --count 3/ } };
    expect(readCommands(renamed).problems).toEqual([
      '01-hello-world/README.md (blocks marked screenshot 01-hello-world.png): 0 different commands match receive /-- receive --count 3/.',
      "01-hello-world/README.md (blocks marked screenshot 01-hello-world.png): the scene does not type 'npm run lesson:01 -- receive --count 2'.",
    ]);
  });
});
