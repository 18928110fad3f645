// The numbers of an experiment: a growable array of floats, percentiles by nearest rank, and the
// counts and figures process-results computes (report.ts draws them).

/** A Float64Array that grows: millions of numbers without millions of objects. */
export class Numbers {
  data = new Float64Array(1 << 16);
  length = 0;
  push(value: number) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  view() {
    return this.data.subarray(0, this.length);
  }
}

export interface Stats {
  measure: string;
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** Percentiles by nearest rank: the value at rank ceil(p/100 × n) of the sorted values. */
export function statistics(measure: string, values: Float64Array): Stats {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * n) - 1)] ?? Number.NaN;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    measure,
    count: n,
    min: sorted[0] ?? Number.NaN,
    mean: n ? sum / n : Number.NaN,
    p50: rank(50),
    p90: rank(90),
    p95: rank(95),
    p99: rank(99),
    max: sorted[n - 1] ?? Number.NaN,
  };
}

export interface Results {
  produced: number;
  consumed: number;
  matched: number;
  missing: number;
  unexpected: number;
  duplicates: { producer: number; consumer: number };
  /** Messages per second over each side's own span. */
  throughput: { producer: number; consumer: number };
  send: Stats;
  latency: Stats;
  examples: { missing: string[]; unexpected: string[] };
}

/** The smallest and largest value, without spreading millions of arguments. */
export function minMax(values: Float64Array): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}
