// Loaded into every program a bench runs (node --import): its peak resident memory, as it exits, so
// a bench can compare memory as well as speed (process.resourceUsage works on every platform).
process.on('exit', () => {
  process.stderr.write(`peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB\n`);
});
