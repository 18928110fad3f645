// npm run bench [name…]: runs every bench/*.bench.ts (or the named ones) and prints its table.
// Each bench measures the lesson's code side by side with a raw-client baseline in the same run,
// alternating, and reports medians and ratios: speed is measured here, never asserted in tests.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.startsWith(name)))
  .sort();

if (benches.length === 0) {
  process.stderr.write(wanted.length ? `No bench matches ${wanted.join(', ')}.\n` : 'No benches yet.\n');
}
for (const file of benches) {
  process.stderr.write(`\n== ${file.replace(/\.bench\.ts$/, '')} ==\n`);
  const bench = (await import(pathToFileURL(join(here, file)).href)) as { default: () => Promise<void> };
  await bench.default();
}
