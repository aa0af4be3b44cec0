/**
 * SLOs (after k6 thresholds), shared/SPEC.md §6:
 *
 *   slo       := threshold | sometimes
 *   threshold := AGG "(" METRIC [ "{" TAG ":" VALUE ("," TAG ":" VALUE)* "}" ] ")" OP NUMBER [UNIT] [window]
 *   sometimes := "sometimes" "(" EVENT ")" [window]
 *   window    := "within" DURATION "after" FAULT
 *   AGG       := avg | min | max | med | count | rate | p "(" NUMBER ")"      (0 < N ≤ 100)
 *   OP        := < | <= | > | >= | == | !=
 *   UNIT      := ms | s | m | h   (the number is a duration, compared in ms)
 *              | %                (the number is a percentage, compared as a fraction: 5% = 0.05)
 *   DURATION  := NUMBER (ms|s|m|h), or a bare NUMBER of ms
 *   names     := [A-Za-z0-9_][A-Za-z0-9_.-]*;  a tag VALUE may also be a "double-quoted" string
 *
 * FAULT is a fault's `name` or its kind (then the first fault of that kind in
 * the scenario). The unit is written right after the number (`2s`, not `2 s`).
 */
import { formatDuration } from '../scenario/duration.js';

export const AGGREGATIONS = ['avg', 'min', 'max', 'med', 'count', 'rate', 'p'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export const OPERATORS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type Operator = (typeof OPERATORS)[number];

export const THRESHOLD_UNITS = ['ms', 's', 'm', 'h', '%'] as const;
export type ThresholdUnit = (typeof THRESHOLD_UNITS)[number];

export interface SloWindow {
  durationMs: number;
  /** A fault name or kind. */
  after: string;
}

export interface ThresholdSlo {
  type: 'threshold';
  agg: Aggregation;
  /** The percentile for `p(N)`, else null. */
  q: number | null;
  metric: string;
  /** Tag filter in written order; `{}` for none. */
  tags: Record<string, string>;
  op: Operator;
  /** The number as written; see thresholdValue() for the compared value. */
  value: number;
  unit: ThresholdUnit | null;
  window: SloWindow | null;
}

export interface SometimesSlo {
  type: 'sometimes';
  event: string;
  window: SloWindow | null;
}

export type Slo = ThresholdSlo | SometimesSlo;

const UNIT_FACTOR: Record<ThresholdUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, '%': 0.01 };

/** The number compared with the metric: durations in ms, percentages as fractions. */
export function thresholdValue(slo: ThresholdSlo): number {
  return slo.unit ? slo.value * UNIT_FACTOR[slo.unit] : slo.value;
}

export function isDurationUnit(u: ThresholdUnit | null): boolean {
  return u === 'ms' || u === 's' || u === 'm' || u === 'h';
}

const BARE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function formatTagValue(v: string): string {
  return BARE.test(v) ? v : JSON.stringify(v);
}

function formatWindow(w: SloWindow | null): string {
  return w ? ` within ${formatDuration(w.durationMs)} after ${w.after}` : '';
}

/** Canonical text of an SLO; parseSlo(formatSlo(x)) equals x. */
export function formatSlo(slo: Slo): string {
  if (slo.type === 'sometimes') return `sometimes(${slo.event})${formatWindow(slo.window)}`;
  const agg = slo.agg === 'p' ? `p(${slo.q})` : slo.agg;
  const tagText = Object.entries(slo.tags)
    .map(([k, v]) => `${k}:${formatTagValue(v)}`)
    .join(',');
  const tags = tagText ? `{${tagText}}` : '';
  return `${agg}(${slo.metric}${tags}) ${slo.op} ${slo.value}${slo.unit ?? ''}${formatWindow(slo.window)}`;
}
