// What the monitor draws: a table and a depth sparkline that fit an 80-column terminal, or one
// plain line per sample (--plain, or when stderr is not a terminal).
import { chalkStderr as chalk } from 'chalk';
import type { Sampled } from './management-sampler.ts';

export interface Latest {
  targetRate: number;
  nacks: number;
  drains: number;
  blocked: number;
  age: number;
}

export interface Frame {
  queue: string;
  queueLimit: number;
  metricsUrl: string;
  /** Ready messages (exact, over AMQP); undefined while the broker is out of reach. */
  depth: number | undefined;
  /** Why the depth is unknown. */
  broker?: string;
  management: Sampled;
  latest: Latest;
  history: number[];
  full: boolean;
}

const bars = '▁▂▃▄▅▆▇█';
export function sparkline(values: number[], max: number): string {
  return values
    .map((v) => bars[Math.min(bars.length - 1, Math.floor((v / Math.max(max, 1)) * (bars.length - 1)))])
    .join('');
}

/** A management figure: the number, "sampling…" before two samples, "?" while the API fails. */
function figure(sampled: Sampled, value: number | undefined, format: (n: number) => string): string {
  if (typeof sampled.state === 'object') return '?';
  return value === undefined ? 'sampling…' : format(value);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

export function plainLine(frame: Frame): string {
  const { management: m, latest } = frame;
  const failed = typeof m.state === 'object' ? ` management API failing` : '';
  return `${frame.full ? ' [!]' : ' [=]'} depth=${frame.depth ?? `? (${frame.broker})`} unacked=${figure(m, m.unacked, String)} publish=${figure(m, m.publishRate, (n) => `${n.toFixed(0)}/s`)} deliver=${figure(m, m.deliverRate, (n) => `${n.toFixed(0)}/s`)} memory=${m.memory === undefined ? '?' : mib(m.memory)} target=${latest.targetRate}/s nacks=${latest.nacks} drains=${latest.drains} blocked=${latest.blocked} age=${latest.age.toFixed(2)}s${failed}`;
}

export function liveView(frame: Frame): string {
  const { management: m, latest } = frame;
  const row = (label: string, value: string) => `  ${label.padEnd(22)}${value}`;
  const depthText =
    frame.depth === undefined ? chalk.red(`? (${frame.broker})`) : `${frame.depth} / ${frame.queueLimit}`;
  return [
    chalk.bold(`Pace monitor — ${frame.queue}`) + chalk.gray(`   metrics: ${frame.metricsUrl}`),
    '',
    row('queue depth (ready)', frame.full ? chalk.red(`${depthText}  near the limit`) : depthText),
    row('unacked', figure(m, m.unacked, String)),
    row(
      'publish rate',
      figure(m, m.publishRate, (n) => `${n.toFixed(0)} msg/s`),
    ),
    row(
      'deliver rate',
      figure(m, m.deliverRate, (n) => `${n.toFixed(0)} msg/s`),
    ),
    row('broker memory', m.memory === undefined ? '?' : mib(m.memory)),
    row('producer target', `${latest.targetRate} msg/s`),
    row('back-pressure', `nacks ${latest.nacks}  drains ${latest.drains}  blocked ${latest.blocked}`),
    row('last message age', `${latest.age.toFixed(2)} s`),
    '',
    `  depth ${sparkline(frame.history, frame.queueLimit)}`,
    typeof m.state === 'object'
      ? chalk.red(`  management API: ${m.state.failed.slice(0, 140)}`)
      : chalk.gray('  (rates come from the management API, which samples every 5 s)   Ctrl+C to stop'),
  ].join('\n');
}
