/**
 * What one simulated run (a scenario or one of its variants) produced, as the
 * reports need it. Nothing here depends on the wall clock or the host, so the
 * same seed and commit give the same result.
 */
import type { SloResult } from '../slo/evaluate.js';

/** One line of a chart: a value per metric bucket (null where there is no data). */
export interface SeriesLine {
  label: string;
  /** Start of each bucket, ms since the start of the run. */
  tMs: number[];
  values: (number | null)[];
}

export interface SeriesChart {
  id: string;
  title: string;
  /** Unit of the values, as in the metric registry (`ms`, `bytes`, `connections`). */
  unit: string;
  lines: SeriesLine[];
}

export interface FaultRecord {
  kind: string;
  name: string | null;
  /** Ms since the start of the run. */
  atMs: number;
  /** Ms until it healed; null if it did not within the run. */
  forMs: number | null;
}

export interface SimRunResult {
  scenario: string;
  /** Null for the base scenario. */
  variant: string | null;
  seed: number;
  commit: string;
  /** 1 at full size; see scale() in src/sim/scenario. */
  scale: number;
  /** Simulated duration, ms. */
  durationMs: number;
  expect: 'pass' | 'fail';
  /** For expect fail: the SLO that must be one of those failing; null when any will do. */
  expectedFailingSlo: string | null;
  slos: SloResult[];
  /** Totals of the run (counts, percentiles, maxima), keyed by `metric` or `metric.stat`. */
  summary: Record<string, number | null>;
  series: SeriesChart[];
  /** Events recorded, in all and per name. */
  eventsCount: number;
  events: Record<string, number>;
  faults: FaultRecord[];
}

/** Every run of one `taco sim` invocation. */
export interface SimReport {
  commit: string;
  runs: SimRunResult[];
}
