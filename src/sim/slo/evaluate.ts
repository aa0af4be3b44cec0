/**
 * Evaluates SLOs against a finished (or running) recorder.
 *
 * Definitions (W is the window: the whole run, or `within D after F` =
 * [F.at, F.at + D) widened to whole metric buckets and clipped to the run):
 * - count(M): counters, the sum of increments in W; histograms, the number of
 *   observations; events, the number of occurrences. 0 when none.
 * - rate(M): count(M) divided by the seconds W covers (events per second),
 *   null when W covers no time.
 * - avg/min/max(M): histograms, exact over the observations in W; gauges,
 *   over the values held during W, avg weighted by time.
 * - med(M) = p(50)(M); p(N)(M): nearest-rank percentile from the HDR
 *   histograms of W merged (never averaged), accurate to 0.1%.
 * - sometimes(E): count(E) ≥ 1 in W.
 * A tag filter selects the series whose tags contain it; several series
 * combine (counters and histograms add up, gauges by their `combine`).
 * No data (null) fails the SLO: an SLO must never pass for lack of evidence.
 */
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { BucketWindow } from '../metrics/window.js';
import { formatDuration } from '../scenario/duration.js';
import { formatSlo, type Operator, type Slo, type ThresholdSlo, thresholdValue } from './ast.js';
import { checkSlo } from './check.js';
import { SloError } from './errors.js';
import { formatValue } from './format-value.js';
import { parseSlo } from './parse.js';

/** A fault as injected: `atMs` is ms since the start of the run (as in the scenario). */
export interface FaultTime {
  kind: string;
  atMs: number;
  name?: string | undefined;
}

export interface SloResult {
  /** The SLO as written. */
  slo: string;
  ok: boolean;
  /** The measured value in `unit`, or null for no data. */
  actual: number | null;
  /** The value compared with (ms for durations, a fraction for %), null for sometimes(). */
  threshold: number | null;
  /** Unit of actual and threshold: the metric's unit, `/s` for rate, `events` for sometimes. */
  unit: string;
  /** The window measured, ms since the start; null for the whole run. */
  window: { fromMs: number; toMs: number } | null;
  /** One line for people: what was measured against what. */
  message: string;
}

function compare(a: number, op: Operator, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

/** The fault an SLO window is anchored to: by name, else the first of that kind. */
export function findFault(after: string, faults: readonly FaultTime[]): FaultTime | undefined {
  return faults.find((f) => f.name === after) ?? faults.find((f) => f.kind === after);
}

function measure(slo: ThresholdSlo, kind: string, r: MetricsRecorder, w: BucketWindow): number | null {
  if (slo.agg === 'count') return r.total(slo.metric, slo.tags, w);
  if (slo.agg === 'rate') return w.spanMs > 0 ? r.total(slo.metric, slo.tags, w) / (w.spanMs / 1000) : null;
  if (kind === 'gauge') {
    const g = r.gaugeStats(slo.metric, slo.tags, w);
    return g ? g[slo.agg as 'avg' | 'min' | 'max'] : null;
  }
  const h = r.histogram(slo.metric, slo.tags, w);
  if (!h) return null;
  switch (slo.agg) {
    case 'avg':
      return h.meanMs;
    case 'min':
      return h.minMs;
    case 'max':
      return h.maxMs;
    case 'med':
      return h.percentile(50);
    default:
      return h.percentile(slo.q!);
  }
}

/**
 * Evaluates one SLO. Input errors (bad syntax, unknown metric, a fault that is
 * not in `faults`) throw SloError; everything else is a result.
 */
export function evaluateSlo(
  slo: string | Slo,
  recorder: MetricsRecorder,
  faults: readonly FaultTime[],
): SloResult {
  const text = typeof slo === 'string' ? slo : formatSlo(slo);
  const ast = typeof slo === 'string' ? parseSlo(slo) : slo;
  const def = checkSlo(ast, recorder.registry, faults, text);

  let w = recorder.window();
  let windowText = '';
  if (ast.window) {
    const f = findFault(ast.window.after, faults);
    if (!f) throw new SloError(text, `no fault "${ast.window.after}"`);
    w = recorder.window(f.atMs, f.atMs + ast.window.durationMs);
    windowText = ` in ${formatDuration(w.fromMs)}..${formatDuration(w.toMs)}`;
  }
  const window = ast.window ? { fromMs: w.fromMs, toMs: w.toMs } : null;

  if (ast.type === 'sometimes') {
    const n = recorder.total(ast.event, {}, w);
    return {
      slo: text,
      ok: n > 0,
      actual: n,
      threshold: null,
      unit: 'events',
      window,
      message:
        n > 0
          ? `${ast.event} occurred ${n} time(s)${windowText}`
          : `${ast.event} never occurred${windowText}`,
    };
  }

  const unit = ast.agg === 'rate' ? '/s' : def.unit;
  const threshold = thresholdValue(ast);
  const actual = measure(ast, def.kind, recorder, w);
  const want = `${ast.op} ${ast.value}${ast.unit ?? ''}`;
  if (actual === null) {
    return {
      slo: text,
      ok: false,
      actual,
      threshold,
      unit,
      window,
      message: `no data${windowText}, needs ${want}`,
    };
  }
  const ok = compare(actual, ast.op, threshold);
  return {
    slo: text,
    ok,
    actual,
    threshold,
    unit,
    window,
    message: `${formatValue(actual, unit)}${windowText}, needs ${want}`,
  };
}

export function evaluateSlos(
  slos: readonly (string | Slo)[],
  recorder: MetricsRecorder,
  faults: readonly FaultTime[],
): SloResult[] {
  return slos.map((s) => evaluateSlo(s, recorder, faults));
}
