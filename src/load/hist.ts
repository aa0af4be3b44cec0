/**
 * Latency histograms for load runs: HDR (hdr-histogram-js) in integer µs,
 * shipped between processes as their non-empty slots and merged exactly —
 * percentiles come from merged histograms, never from averaged percentiles.
 */
import type { JsHistogram } from 'hdr-histogram-js';
import { addSparse, msToUs, newHistogram, toSparse } from '../sim/metrics/hdr.js';

export { newHistogram };

/** A histogram's non-empty slots as plain arrays (structured-clone and JSON safe). */
export interface WireHistogram {
  v: number[];
  c: number[];
}

export function recordMs(h: JsHistogram, ms: number): void {
  h.recordValue(msToUs(ms));
}

export function toWire(h: JsHistogram): WireHistogram {
  const s = toSparse(h);
  return { v: Array.from(s.values), c: Array.from(s.counts) };
}

export function addWire(h: JsHistogram, w: WireHistogram): void {
  addSparse(h, { values: Float64Array.from(w.v), counts: Float64Array.from(w.c) });
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  mean: number | null;
}

const pct = (h: JsHistogram, q: number) =>
  h.totalCount === 0 ? null : round3(h.getValueAtPercentile(q) / 1000);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Percentiles in milliseconds (null when empty). */
export function summarize(h: JsHistogram): LatencySummary {
  return {
    count: h.totalCount,
    p50: pct(h, 50),
    p90: pct(h, 90),
    p99: pct(h, 99),
    p999: pct(h, 99.9),
    max: h.totalCount === 0 ? null : round3(h.maxValue / 1000),
    mean: h.totalCount === 0 ? null : round3(h.mean / 1000),
  };
}
