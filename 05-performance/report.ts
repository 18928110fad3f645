// report.html: counts, throughputs and three charts, drawn as inline SVG so the file works offline.
import type { Results, Stats } from './statistics.ts';

interface Series {
  latencyMs: Float64Array;
  sentAt: Float64Array;
  receivedAt: Float64Array;
}

const W = 720;
const H = 240;
const M = { left: 64, right: 16, top: 16, bottom: 36 };
const esc = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/** Round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi], and the decimals that tell them apart. */
export function niceTicks(lo: number, hi: number, about = 5): { values: number[]; digits: number } {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return { values: [lo], digits: 2 };
  const power = 10 ** Math.floor(Math.log10(span / about));
  const within = (step: number) => {
    const values: number[] = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) values.push(v);
    return values;
  };
  // The largest round step that still gives three ticks or more.
  const step = [10, 5, 2, 1].map((m) => m * power).find((s) => within(s).length >= 3) ?? power;
  const values = within(step);
  return { values, digits: Math.max(0, -Math.floor(Math.log10(step))) };
}

/** Axes with round ticks; the x axis runs from xMin to xMax, the y axis from 0 to yMax. */
function axes(xLabel: string, yLabel: string, xMax: number, yMax: number, xMin = 0): string {
  const x = (v: number) => M.left + ((v - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - (v / (yMax || 1)) * (H - M.top - M.bottom);
  const xTicks = niceTicks(xMin, xMax);
  const yTicks = niceTicks(0, yMax);
  return [
    `<line class="axis" x1="${M.left}" y1="${y(0)}" x2="${W - M.right}" y2="${y(0)}"/>`,
    `<line class="axis" x1="${M.left}" y1="${y(0)}" x2="${M.left}" y2="${M.top}"/>`,
    ...xTicks.values.map(
      (v) =>
        `<text class="tick" x="${x(v).toFixed(1)}" y="${H - M.bottom + 14}" text-anchor="middle">${v.toFixed(xTicks.digits)}</text>`,
    ),
    ...yTicks.values.map(
      (v) =>
        `<text class="tick" x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(yTicks.digits)}</text>`,
    ),
    `<text class="label" x="${(M.left + W - M.right) / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text class="label" x="12" y="${(M.top + H - M.bottom) / 2}" transform="rotate(-90 12 ${(M.top + H - M.bottom) / 2})" text-anchor="middle">${esc(yLabel)}</text>`,
  ].join('');
}

function svg(id: string, title: string, body: string): string {
  return `<figure><figcaption>${esc(title)}</figcaption><svg id="${id}" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${body}</svg></figure>`;
}

function histogram(latency: Float64Array, stats: Stats): string {
  if (latency.length === 0)
    return svg('latency-histogram', 'Latency histogram', axes('latency (ms)', 'messages', 1, 1));
  const bins = 40;
  const top = stats.p99 > stats.min ? stats.p99 : stats.max || 1; // everything above p99 lands in the last bin
  const width = (top - stats.min) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of latency) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - stats.min) / width)))]!++;
  const max = Math.max(...counts);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const bars = counts
    .map((c, i) => {
      const h = (c / max) * plotH;
      return `<rect class="bar" x="${(M.left + (i * plotW) / bins).toFixed(1)}" y="${(H - M.bottom - h).toFixed(1)}" width="${(plotW / bins - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${fmt(stats.min + i * width)}–${fmt(stats.min + (i + 1) * width)} ms: ${c}</title></rect>`;
    })
    .join('');
  return svg(
    'latency-histogram',
    `Latency histogram (ms; the last bar holds everything from p99 = ${fmt(top)} ms up)`,
    axes('latency (ms)', 'messages', top, max, stats.min) + bars,
  );
}

/** The interval of the run's time each time falls in: `count` intervals of equal width from `start`. */
function intervals(times: Float64Array, start: number, end: number, count: number): Uint8Array {
  const width = (end - start) / count || 1;
  const out = new Uint8Array(times.length);
  for (let i = 0; i < times.length; i++)
    out[i] = Math.min(count - 1, Math.max(0, Math.floor((times[i]! - start) / width)));
  return out;
}

/** Per interval, its values, sorted: one Float64Array sorted in place per interval, no array of objects. */
function sortedByInterval(which: Uint8Array, values: Float64Array, count: number): Float64Array[] {
  const sizes = new Float64Array(count);
  for (const k of which) sizes[k]!++;
  const starts = new Float64Array(count);
  for (let k = 1; k < count; k++) starts[k] = starts[k - 1]! + sizes[k - 1]!;
  const next = Float64Array.from(starts);
  const grouped = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) grouped[next[which[i]!]!++] = values[i]!;
  return Array.from({ length: count }, (_, k) => grouped.subarray(starts[k], starts[k]! + sizes[k]!).sort());
}

/** How many times fall in each interval. */
function counts(which: Uint8Array, count: number): number[] {
  const out = new Array<number>(count).fill(0);
  for (const k of which) out[k]!++;
  return out;
}

function line(points: [number, number][], xMax: number, yMax: number, cls: string): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const d = points
    .map(
      ([x, y]) =>
        `${(M.left + (x / (xMax || 1)) * plotW).toFixed(1)},${(H - M.bottom - (y / (yMax || 1)) * plotH).toFixed(1)}`,
    )
    .join(' ');
  return `<polyline class="${cls}" points="${d}"/>`;
}

function overTime(series: Series): { latency: string; throughput: string } {
  const n = series.sentAt.length;
  if (n === 0) {
    return {
      latency: svg('latency-over-time', 'Latency over time', axes('s', 'ms', 1, 1)),
      throughput: svg('throughput-over-time', 'Throughput over time', axes('s', 'msg/s', 1, 1)),
    };
  }
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const t of series.sentAt) start = Math.min(start, t);
  for (const t of series.receivedAt) end = Math.max(end, t);
  const count = 60;
  const seconds = (end - start) / 1000 || 0.001;
  const width = seconds / count;
  const bySent = sortedByInterval(intervals(series.sentAt, start, end, count), series.latencyMs, count);
  const p = (sorted: Float64Array, q: number) =>
    sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : Number.NaN;
  const p50 = bySent
    .map((b, i) => [(i + 0.5) * width, p(b, 0.5)] as [number, number])
    .filter(([, v]) => Number.isFinite(v));
  const p99 = bySent
    .map((b, i) => [(i + 0.5) * width, p(b, 0.99)] as [number, number])
    .filter(([, v]) => Number.isFinite(v));
  const yMax = Math.max(...p99.map(([, v]) => v), 1);
  const sentRate = bySent.map((b, i) => [(i + 0.5) * width, b.length / width] as [number, number]);
  const receivedRate = counts(intervals(series.receivedAt, start, end, count), count).map(
    (c, i) => [(i + 0.5) * width, c / width] as [number, number],
  );
  const rMax = Math.max(...sentRate.map(([, v]) => v), ...receivedRate.map(([, v]) => v), 1);
  const legend = (a: string, b: string, ca: string, cb: string) =>
    `<text class="legend ${ca}" x="${W - 200}" y="${M.top + 10}">— ${a}</text><text class="legend ${cb}" x="${W - 200}" y="${M.top + 26}">— ${b}</text>`;
  return {
    latency: svg(
      'latency-over-time',
      'Latency over time (by send time): p50 and p99 per interval',
      axes('seconds since the first send', 'latency (ms)', seconds, yMax) +
        line(p50, seconds, yMax, 'series a') +
        line(p99, seconds, yMax, 'series b') +
        legend('p50', 'p99', 'a', 'b'),
    ),
    throughput: svg(
      'throughput-over-time',
      'Throughput over time: messages sent and received per second',
      axes('seconds since the first send', 'messages per second', seconds, rMax) +
        line(sentRate, seconds, rMax, 'series a') +
        line(receivedRate, seconds, rMax, 'series b') +
        legend('sent', 'received', 'a', 'b'),
    ),
  };
}

export function renderReport(title: string, r: Results, series: Series): string {
  const { latency, throughput } = overTime(series);
  const statRow = (s: Stats) =>
    `<tr><th>${s.measure}</th><td>${s.count}</td>${[s.min, s.mean, s.p50, s.p90, s.p95, s.p99, s.max].map((v) => `<td>${fmt(v, 3)}</td>`).join('')}</tr>`;
  const counts: [string, number | string][] = [
    ['produced', r.produced],
    ['consumed', r.consumed],
    ['matched', r.matched],
    ['missing (produced, never consumed)', r.missing],
    ['unexpected (consumed, never produced)', r.unexpected],
    ['duplicates (producer + consumer)', `${r.duplicates.producer} + ${r.duplicates.consumer}`],
    ['producer throughput (msg/s)', fmt(r.throughput.producer, 1)],
    ['consumer throughput (msg/s)', fmt(r.throughput.consumer, 1)],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 760px; color: #222; }
h1 { font-size: 22px; } table { border-collapse: collapse; margin: 8px 0 20px; }
td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; } th { text-align: left; }
figure { margin: 16px 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
.axis { stroke: #555; } .tick, .label, .legend { font-size: 11px; fill: #444; }
.bar { fill: #ff6600; } .series { fill: none; stroke-width: 2; } .series.a { stroke: #ff6600; } .series.b { stroke: #3366cc; }
.legend.a { fill: #ff6600; } .legend.b { fill: #3366cc; } .bad { color: #b00; }
</style></head><body>
<h1>${esc(title)}</h1>
<table id="counts">${counts.map(([k, v]) => `<tr><th>${esc(k)}</th><td class="${/missing|unexpected|duplicates/.test(k) && String(v) !== '0' && String(v) !== '0 + 0' ? 'bad' : ''}">${v}</td></tr>`).join('')}</table>
<table id="summary"><tr><th>measure (ms)</th><th>count</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>${statRow(r.send)}${statRow(r.latency)}</table>
${histogram(series.latencyMs, r.latency)}
${latency}
${throughput}
<p><small>send_ms = broker ack − sent; latency_ms = received − sent. Percentiles by nearest rank. Made by process-results.</small></p>
</body></html>
`;
}
