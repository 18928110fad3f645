// How the README test reads a README: scenes, terminals and the directives above a block.
import { describe, expect, test } from '@jest/globals';
import { scenes, typed } from './readme.ts';

const text = [
  'Run the workers:',
  '',
  '<!-- readme-test: expect /received/ -->',
  '<!-- readme-test: exit 2 -->',
  '<!-- readme-test: screenshot 02-work-queues.png -->',
  '```sh',
  '# a comment line is not a command',
  'npm run lesson:02 -- worker --name A --count 1   # terminal 1',
  'npm run lesson:02 -- new-task "T1."               # terminal 2',
  'echo done',
  '```',
  '',
  "<!-- readme-test: skip it restarts the learner's broker -->",
  '```bash',
  'sudo rabbitmqctl stop_app',
  '```',
  '<!-- readme-test: skip not for this block -->',
  'Some prose cancels a directive.',
  '```sh',
  'npm test',
  '```',
].join('\n');

describe('reading a README', () => {
  const found = scenes('README.md', text);

  test('finds each sh or bash block with its line', () => {
    expect(found.map((scene) => scene.line)).toEqual([6, 14, 19]);
  });

  test('gives terminal lines their terminal and skips comment lines', () => {
    expect(found[0]?.steps).toEqual([
      { command: 'npm run lesson:02 -- worker --name A --count 1   # terminal 1', terminal: 1 },
      { command: 'npm run lesson:02 -- new-task "T1."               # terminal 2', terminal: 2 },
      { command: 'echo done' },
    ]);
  });

  test('reads expect, exit, skip and screenshot from the comments just above a block, and only those', () => {
    expect(found[0]?.expect).toEqual([/received/]);
    expect(found[0]?.exitCode).toBe(2);
    expect(found[1]?.skip).toBe("it restarts the learner's broker");
    expect(found[2]?.skip).toBeUndefined();
    expect(found.map((scene) => scene.screenshots)).toEqual([['02-work-queues.png'], [], []]);
  });

  test('types a command without its trailing comment, keeping a # inside quotes or a word', () => {
    expect(typed(found[0]?.steps[0]?.command ?? '')).toBe('npm run lesson:02 -- worker --name A --count 1');
    expect(typed("npm run lesson:06 -- subscriber --topic 'job/test/#'   # terminal 1: counts")).toBe(
      "npm run lesson:06 -- subscriber --topic 'job/test/#'",
    );
    expect(typed('npm run lesson:02 -- new-task "T1 #1" a#b')).toBe(
      'npm run lesson:02 -- new-task "T1 #1" a#b',
    );
  });
});
