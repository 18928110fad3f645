// How far `npm run check` (and so `npm run submit`) has got: each lesson as it starts and as it
// ends, with its time and what is left. The whole takes many minutes (lesson 07 starts a cluster),
// and a learner who sees nothing for minutes kills it. On a terminal a cli-progress bar ticks while
// a lesson runs; without one (a pipe, CI, a test) plain lines, since a bar's redraws would fill a
// log with carriage returns.
import cliProgress from 'cli-progress';
import type { Lesson } from './lessons.ts';

export interface CheckProgress {
  /** Says that a lesson starts (a line, or the bar on a terminal). */
  started(lesson: Lesson): void;
  /** Stops the lesson's clock and bar; returns the line that says how it ended and what is left. */
  ended(lesson: Lesson, failed: number, total: number): string;
}

export interface ProgressOptions {
  /** Draw a bar (stderr is a terminal) or say plain lines. */
  terminal?: boolean;
  /** Each lesson's seconds the last time it was checked here, to say how long what is left takes. */
  lastSeconds?: Record<string, number | undefined>;
  now?: () => number;
}

/**
 * Each lesson's time for `npm run check` on a machine like the course's (2 cores, the services
 * running), measured as the top README's "How long the checks take" says: the estimate for a
 * lesson never checked here yet.
 */
export const typicalSeconds: Record<string, number> = {
  '01': 40,
  '02': 60,
  '03': 20,
  '04': 50,
  '05': 95,
  '06': 145,
  '07': 330,
};

/** 49 s, 4 min 2 s, 1 h 3 min: whole seconds, as a person reads a duration. */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min${seconds % 60 ? ` ${seconds % 60} s` : ''}`;
  return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
}

export function checkProgress(
  all: Lesson[],
  say: (line: string) => void,
  { terminal = process.stderr.isTTY === true, lastSeconds = {}, now = Date.now }: ProgressOptions = {},
): CheckProgress {
  const began = now();
  let lessonBegan = began;
  let done = 0;
  const estimate = (lesson: Lesson) =>
    (lastSeconds[lesson.number] ?? typicalSeconds[lesson.number] ?? 60) * 1000;
  /** What is left after the lessons done so far: how many, and about how long by the estimates. */
  const left = (after: number) => {
    const rest = all.slice(after);
    if (rest.length === 0) return 'none left';
    const ms = rest.reduce((sum, lesson) => sum + estimate(lesson), 0);
    return `${rest.length} lesson${rest.length > 1 ? 's' : ''} left, about ${duration(ms)}`;
  };
  const place = () => `[${done + 1}/${all.length}]`;

  const bar = terminal
    ? new cliProgress.SingleBar(
        {
          // Kept short (80 to 95 columns): cli-progress cuts a line wider than the terminal, not wraps it.
          format: ' {bar} {place} lesson {lesson}: {lessonTime} of about {lessonEstimate} | {left}',
          stream: process.stderr,
          barsize: 10,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let ticker: NodeJS.Timeout | undefined;

  return {
    started(lesson) {
      lessonBegan = now();
      if (!bar) {
        say(`  ${place()} lesson ${lesson.number} started (about ${duration(estimate(lesson))})`);
        return;
      }
      const payload = () => ({
        place: place(),
        lesson: lesson.number,
        lessonTime: duration(now() - lessonBegan),
        lessonEstimate: duration(estimate(lesson)),
        left: left(done + 1),
      });
      bar.start(all.length, done, payload());
      // The bar redraws on its own; the clocks in it move only when told.
      ticker = setInterval(() => bar.update(done, payload()), 1000);
      ticker.unref();
    },
    ended(lesson, failed, total) {
      clearInterval(ticker);
      bar?.stop();
      const line = `  ${place()} lesson ${lesson.number} ${failed ? `failed (${failed} of ${total})` : 'passed'} in ${duration(now() - lessonBegan)}; ${left(done + 1)}`;
      done += 1;
      return done === all.length ? `${line} (${duration(now() - began)} in all)` : line;
    },
  };
}
