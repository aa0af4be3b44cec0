/**
 * HDR histograms for the recorder. Values are recorded in integer
 * microseconds over 1 µs .. 1 h at 3 significant digits (relative error
 * ≤ 0.1%); the API speaks milliseconds. Longer values are clamped to 1 h.
 *
 * A live 32-bit histogram takes ~93 KiB, too much to keep one per metric per
 * 10-second bucket of an hour-long run, so a bucket that is over is kept
 * sparse: the (value, count) pairs of its non-empty HDR slots. That is
 * lossless: recording the pairs into a histogram of the same configuration
 * gives back the same counts in the same slots, so merged windows are exact
 * HDR merges, never averages of percentiles.
 */
import { build, type JsHistogram } from 'hdr-histogram-js';

export const HDR_LOWEST_US = 1;
export const HDR_HIGHEST_US = 3_600_000_000;
export const HDR_DIGITS = 3;

/** A pure-JS histogram (no WebAssembly: deterministic and no async init). */
export function newHistogram(bits: 32 | 64 = 32): JsHistogram {
  return build({
    useWebAssembly: false,
    bitBucketSize: bits,
    autoResize: false,
    lowestDiscernibleValue: HDR_LOWEST_US,
    highestTrackableValue: HDR_HIGHEST_US,
    numberOfSignificantValueDigits: HDR_DIGITS,
  }) as unknown as JsHistogram;
}

/** Milliseconds → the integer µs recorded (negative → 0, above 1 h → 1 h). */
export function msToUs(ms: number): number {
  const us = Math.round(ms * 1000);
  return us < 0 ? 0 : Math.min(us, HDR_HIGHEST_US);
}

/** The non-empty slots of a histogram: values (µs, each a slot's lowest value) and their counts. */
export interface SparseHistogram {
  readonly values: Float64Array;
  readonly counts: Float64Array;
}

export function toSparse(h: JsHistogram): SparseHistogram {
  const values: number[] = [];
  const counts: number[] = [];
  const n = h.countsArrayLength;
  for (let i = 0; i < n; i++) {
    const c = h.getCountAtIndex(i);
    if (c !== 0) {
      values.push(h.valueFromIndex(i));
      counts.push(c);
    }
  }
  return { values: Float64Array.from(values), counts: Float64Array.from(counts) };
}

export function addSparse(target: JsHistogram, s: SparseHistogram): void {
  for (let i = 0; i < s.values.length; i++) target.recordValueWithCount(s.values[i]!, s.counts[i]!);
}

/** Nearest-rank percentile (0 < q ≤ 100) in ms, as HDR reports it: the highest value of the slot. */
export function percentileMs(h: JsHistogram, q: number): number | null {
  return h.totalCount === 0 ? null : h.getValueAtPercentile(q) / 1000;
}
