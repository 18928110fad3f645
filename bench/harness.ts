// What the benches share: run a program as a child process, read the rate it reports, alternate
// the contenders, and print medians and ratios.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../shared/repo-root.ts';

export async function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      pathToFileURL(join(repoRoot, 'bench/peak-rss.ts')).href,
      join(repoRoot, script),
      ...args,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} failed (exit ${code}):\n${stderr}`);
  return stderr;
}

/** The rate a program printed: "… = 12345.6 msg/s" or "(12345 rows/s)". */
export function rate(output: string): number {
  const match = /= ([\d.]+) msg\/s|\((\d+) rows\/s\)/.exec(output);
  if (!match) throw new Error(`no rate in:\n${output}`);
  return Number(match[1] ?? match[2]);
}

/** The peak memory a program used, as bench/peak-rss.ts printed it: "peak RSS 123 MiB". */
export function peakRss(output: string): number {
  const match = /peak RSS (\d+) MiB/.exec(output);
  if (!match) throw new Error(`no peak RSS in:\n${output}`);
  return Number(match[1]);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs each contender `rounds` times, alternating, and returns the median rate of each. */
export async function alternate(
  rounds: number,
  contenders: Record<string, () => Promise<number>>,
): Promise<Record<string, number>> {
  const rates: Record<string, number[]> = Object.fromEntries(
    Object.keys(contenders).map((name) => [name, []]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const [name, once] of Object.entries(contenders)) rates[name]!.push(await once());
  }
  return Object.fromEntries(Object.entries(rates).map(([name, values]) => [name, median(values)]));
}

export function row(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)}${value}\n`);
}
