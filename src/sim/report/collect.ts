/**
 * Turns a recorder's data into the parts of a SimRunResult: the charts of the
 * HTML report, the summary numbers, and the run result itself.
 */
import type { MetricsRecorder, SeriesStat } from '../metrics/recorder.js';
import type { Tags } from '../metrics/tags.js';
import type { Scenario } from '../scenario/schema.js';
import type { FaultTime, SloResult } from '../slo/evaluate.js';
import { gitCommit } from './git.js';
import type { FaultRecord, SeriesChart, SeriesLine, SimRunResult } from './types.js';

export interface LineSpec {
  metric: string;
  stat: SeriesStat;
  /** Shown in the legend; default `metric stat`. */
  label?: string;
  tags?: Tags;
  /** One line per value of this tag (`ezone`); a single combined line when the tag was never used. */
  splitBy?: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  lines: LineSpec[];
}

/** The charts of the HTML report (metric names of SIM_METRICS and the world's WORLD_METRICS). */
export const DEFAULT_CHARTS: readonly ChartSpec[] = [
  {
    id: 'connections',
    title: 'Online connections per ezone',
    unit: 'connections',
    lines: [{ metric: 'sessions.online', stat: 'last', label: 'online', splitBy: 'ezone' }],
  },
  {
    id: 'push-latency',
    title: 'Push latency',
    unit: 'ms',
    lines: [
      { metric: 'push.latency', stat: 'p50', label: 'p50' },
      { metric: 'push.latency', stat: 'p99', label: 'p99' },
    ],
  },
  {
    id: 'queue-backlog',
    title: 'Queue backlog',
    unit: 'messages',
    lines: [{ metric: 'queue.backlog', stat: 'max', label: 'backlog', splitBy: 'ezone' }],
  },
  {
    id: 'rpc-pending',
    title: 'Pending node-to-node RPCs',
    unit: 'calls',
    lines: [{ metric: 'rpc.pending', stat: 'max', label: 'pending', splitBy: 'ezone' }],
  },
  {
    id: 'gateway-memory',
    title: 'Gateway memory (fullest gateway)',
    unit: 'bytes',
    lines: [{ metric: 'gateway.memory', stat: 'max', label: 'memory', splitBy: 'ezone' }],
  },
];

function lineOf(r: MetricsRecorder, spec: LineSpec, tags: Tags, label: string): SeriesLine {
  const data = r.series(spec.metric, spec.stat, tags);
  return { label, tMs: data.tMs, values: data.values };
}

export function collectSeries(
  r: MetricsRecorder,
  charts: readonly ChartSpec[] = DEFAULT_CHARTS,
): SeriesChart[] {
  return charts.map((c) => ({
    id: c.id,
    title: c.title,
    unit: c.unit,
    lines: c.lines.flatMap((spec) => {
      const label = spec.label ?? `${spec.metric} ${spec.stat}`;
      const base = spec.tags ?? {};
      const values = spec.splitBy ? r.tagValues(spec.metric, spec.splitBy) : [];
      if (values.length === 0) return [lineOf(r, spec, base, label)];
      return values.map((v) => lineOf(r, spec, { ...base, [spec.splitBy!]: v }, `${label} ${v}`));
    }),
  }));
}

/**
 * Totals of everything recorded, for the JSON summary: counters and events by
 * name; histograms as `name.count`, `.p50`, `.p99`, `.max`; gauges as
 * `name.max` and `name.last` (combined over tag sets).
 */
export function summarize(r: MetricsRecorder): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const def of r.registry.list()) {
    const name = def.name;
    if (r.tagSets(name).length === 0) continue;
    switch (def.kind) {
      case 'counter':
      case 'event':
        out[name] = r.total(name);
        break;
      case 'histogram': {
        const h = r.histogram(name);
        out[`${name}.count`] = h?.count ?? 0;
        out[`${name}.p50`] = h ? h.percentile(50) : null;
        out[`${name}.p99`] = h ? h.percentile(99) : null;
        out[`${name}.max`] = h ? h.maxMs : null;
        break;
      }
      case 'gauge': {
        const g = r.gaugeStats(name);
        out[`${name}.max`] = g?.max ?? null;
        out[`${name}.last`] = g?.last ?? null;
        break;
      }
    }
  }
  return out;
}

export interface RunResultInput {
  scenario: Scenario;
  recorder: MetricsRecorder;
  /** The faults as injected (times since the start); default: the scenario's, at their scheduled times. */
  faults?: readonly (FaultTime & { forMs?: number | null | undefined })[];
  slos: SloResult[];
  /** Default gitCommit(). */
  commit?: string;
  charts?: readonly ChartSpec[];
  /** Default: the scenario's seed. */
  seed?: number;
}

/** Assembles the result of one run from the scenario, its recorder and its evaluated SLOs. */
export function buildRunResult(input: RunResultInput): SimRunResult {
  const { scenario: s, recorder: r } = input;
  const variant = s.variant === null ? null : s.variants[s.variant];
  const faults: FaultRecord[] = (input.faults ?? s.faults).map((f) => ({
    kind: f.kind,
    name: f.name ?? null,
    atMs: f.atMs,
    forMs: f.forMs ?? null,
  }));
  return {
    scenario: s.name,
    variant: s.variant,
    seed: input.seed ?? s.seed,
    commit: input.commit ?? gitCommit(),
    scale: s.scale,
    durationMs: r.elapsedMs,
    expect: variant?.expect ?? 'pass',
    expectedFailingSlo: variant?.slo ?? null,
    slos: input.slos,
    summary: summarize(r),
    series: collectSeries(r, input.charts),
    eventsCount: r.eventCount,
    events: r.eventCounts(),
    faults,
  };
}
