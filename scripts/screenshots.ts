// npm run screenshots: makes every picture the READMEs show from real runs of the READMEs' own
// commands (same programs, same flags, one tmux window per terminal the README names). The
// terminals' screens are captured with colours and drawn to PNG by headless Chromium; lesson 05's
// report.html and the management UI are photographed directly. It uses the lessons' default queues
// (and lesson 06's jobs table), so it clears those queues first and deletes what it made after.
// `npm run screenshots -- 02 04` makes only those lessons' pictures; `--dry-run` prints the
// commands each would type, read from its README (screenshots/commands.ts), and makes nothing.
import { existsSync, mkdirSync } from 'node:fs';
import { isEntryPoint } from '../shared/program.ts';
import { readCommands } from './screenshots/commands.ts';
import { out, say, shrinkWritten } from './screenshots/pictures.ts';
import { scenes } from './screenshots/scenes.ts';

const usage = `npm run screenshots [-- [--dry-run] [lesson …]]: makes the READMEs' pictures in screenshots/.
  lesson      only the scenes of these lessons (02, 04-pace-matching, …); default: all
  --dry-run   print the commands each scene would type, from its README; needs no tmux, makes nothing`;

if (isEntryPoint(import.meta)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    say(usage);
    process.exit(0);
  }
  const dryRun = args.includes('--dry-run');
  const wanted = args.filter((arg) => arg !== '--dry-run');
  const chosen = scenes.filter((scene) => !wanted.length || wanted.some((w) => scene.lesson.startsWith(w)));
  if (!dryRun && !existsSync('/usr/bin/tmux')) {
    say('npm run screenshots needs tmux: apt-get install tmux.');
    process.exit(1);
  }
  if (!dryRun) mkdirSync(out, { recursive: true });
  for (const scene of chosen) {
    const { commands, problems } = readCommands(scene);
    if (problems.length) {
      say(problems.join('\n'));
      process.exit(1);
    }
    say(`${scene.lesson}…`);
    if (dryRun) for (const command of Object.values(commands)) say(`  $ ${command}`);
    else await scene.make(commands);
  }
  shrinkWritten();
}
