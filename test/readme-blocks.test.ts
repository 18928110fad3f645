// Every README's code and output, checked without running anything: each ```ts block is the
// region of a program it names (so the code on the page cannot drift from the file), and each
// output block says which run printed it (readme-commands.test.ts compares it with that run).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { blocks, missingLine, region, scenes } from './readme.ts';

const repo = join(import.meta.dirname, '..');
const readmes = [
  'README.md',
  ...readdirSync(repo)
    .filter((entry) => /^\d\d-/.test(entry))
    .sort()
    .map((lesson) => join(lesson, 'README.md')),
];

describe('reading code and output blocks', () => {
  const text = [
    '<!-- readme-code: send.ts#publish -->',
    '```ts',
    "channel.sendToQueue(queue, Buffer.from('hi'));",
    '```',
    '```sh',
    'npm run lesson:01 -- receive --count 1   # terminal 1',
    '```',
    '<!-- readme-output: terminal 1 mask /W\\d+/ -->',
    '```',
    ' [x] Received W12',
    '```',
    '<!-- readme-output: diagram -->',
    '```',
    'a ──▶ b',
    '```',
    '```',
    'no comment above',
    '```',
  ].join('\n');
  const found = blocks('README.md', text);

  test('finds an excerpt with its file and region', () => {
    expect(found.excerpts).toMatchObject([{ file: 'send.ts', region: 'publish', line: 2 }]);
  });

  test('ties an output block to the sh block above it, its terminal and its masks', () => {
    expect(found.outputs.map((output) => output.kind)).toEqual(['checked', 'diagram', 'missing']);
    expect(found.outputs[0]).toMatchObject({ scene: 0, terminal: 1, masks: [/W\d+/g] });
  });

  test('cuts a region out of a program, dedented, without its markers', () => {
    const source = ['x();', '  // #region publish', '  a();', '    b();', '  // #endregion', 'y();'].join(
      '\n',
    );
    expect(region(source, 'publish')).toEqual(['a();', '  b();']);
    expect(region(source, 'nothing')).toBeUndefined();
  });

  test('finds the README lines in order in a run, masking what varies, and says which is missing', () => {
    const printed = [
      '> rabbitmq-course-ts@1.0.0 lesson:02',
      ' [*] Waiting for messages in task_queue (prefetch 1) (pid 81234)',
      " [x] A received 'Task 3...'",
      ' Done in 3.0 s',
    ].join('\n');
    expect(
      missingLine(
        [' [*] Waiting for messages in task_queue (prefetch 1) (pid 4242)', ' Done in 1 s'],
        printed,
      ),
    ).toBeUndefined();
    expect(missingLine([" [x] A received 'Task 4...'"], printed)).toBe(" [x] A received 'Task 4...'");
    expect(missingLine([' Done in 3.0 s', ' [*] Waiting …'], printed)).toBe(' [*] Waiting …'); // order counts
    expect(missingLine([' [*] Waiting for messages in … (pid 1)'], printed)).toBeUndefined();
  });
});

describe.each(readmes)('%s', (readme) => {
  const path = join(repo, readme);
  const { excerpts, outputs } = blocks(path);
  const sceneList = scenes(path);

  test('has its blocks read', () =>
    expect(excerpts.length + outputs.length + sceneList.length).toBeGreaterThan(0));
  const each = <T>(list: T[]) => (list.length > 0 ? test.each(list) : () => undefined);
  each(excerpts.map((excerpt) => [`line ${excerpt.line}`, excerpt] as const))(
    'shows code taken from a program: ```ts at %s',
    (_name, excerpt) => {
      if (excerpt.illustration !== undefined) {
        expect(`illustration: ${excerpt.illustration}`).toMatch(/illustration: .{10,}/);
        return;
      }
      if (!excerpt.file || !excerpt.region)
        throw new Error(
          `${readme}:${excerpt.line}: a \`\`\`ts block needs <!-- readme-code: file.ts#region --> (or "illustration <why>") above it`,
        );
      const source = readFileSync(join(dirname(path), excerpt.file), 'utf8');
      const lines = region(source, excerpt.region);
      if (!lines)
        throw new Error(`${excerpt.file} has no region '${excerpt.region}' (// #region … // #endregion)`);
      expect(excerpt.body.join('\n')).toBe(lines.join('\n'));
    },
  );

  each(outputs.map((output) => [`line ${output.line}`, output] as const))(
    'says where each output block comes from: block at %s',
    (_name, output) => {
      if (output.kind === 'missing')
        throw new Error(
          `${readme}:${output.line}: an output block needs <!-- readme-output: terminal N --> (or "diagram", or "not checked <why>") above it`,
        );
      if (output.kind === 'unchecked') expect(output.reason ?? '').toMatch(/.{10,}/);
      if (output.kind !== 'checked') return;
      const scene = output.scene === undefined ? undefined : sceneList[output.scene];
      if (!scene) throw new Error(`${readme}:${output.line}: no \`\`\`sh block above this output block`);
      if (scene.skip)
        throw new Error(
          `${readme}:${output.line}: the sh block at line ${scene.line} is not run (${scene.skip}): say "not checked <why>"`,
        );
      if (output.terminal !== undefined)
        expect(scene.steps.map((step) => step.terminal)).toContain(output.terminal);
    },
  );
});
