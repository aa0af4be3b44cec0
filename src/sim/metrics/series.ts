/**
 * Per-bucket storage of one series (a metric with one tag set). Buckets are
 * indexed from the start of the run; time only moves forward.
 */
import type { JsHistogram } from 'hdr-histogram-js';
import { addSparse, msToUs, newHistogram, type SparseHistogram, toSparse } from './hdr.js';

/** Counters and events: a sum per bucket. */
export class CounterSeries {
  readonly sums: number[] = [];

  add(bucket: number, n: number): void {
    this.sums[bucket] = (this.sums[bucket] ?? 0) + n;
  }

  total(first: number, last: number): number {
    let t = 0;
    for (let b = first; b <= last; b++) t += this.sums[b] ?? 0;
    return t;
  }
}

export interface HistogramStats {
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
}

/**
 * Histograms: one live HDR histogram for the current bucket, sparse copies of
 * the buckets that are over, and exact count/sum/min/max per bucket (HDR's own
 * min and mean are rounded to slots; these are not).
 */
export class HistogramSeries {
  private live: JsHistogram | null = null;
  private liveBucket = -1;
  private readonly closed: (SparseHistogram | undefined)[] = [];
  private readonly stats: (HistogramStats | undefined)[] = [];

  observe(bucket: number, valueMs: number): void {
    if (bucket !== this.liveBucket) this.roll(bucket);
    this.live!.recordValue(msToUs(valueMs));
    const s = this.stats[bucket];
    if (s) {
      s.count++;
      s.sumMs += valueMs;
      if (valueMs < s.minMs) s.minMs = valueMs;
      if (valueMs > s.maxMs) s.maxMs = valueMs;
    } else this.stats[bucket] = { count: 1, sumMs: valueMs, minMs: valueMs, maxMs: valueMs };
  }

  private roll(bucket: number): void {
    if (this.live && this.live.totalCount > 0) {
      this.closed[this.liveBucket] = toSparse(this.live);
      this.live.reset();
    }
    this.live ??= newHistogram();
    this.liveBucket = bucket;
  }

  /** Adds the buckets first..last to `target` (a histogram from newHistogram). */
  mergeInto(target: JsHistogram, first: number, last: number): void {
    for (let b = first; b <= last; b++) {
      if (b === this.liveBucket) {
        if (this.live) target.add(this.live);
      } else {
        const s = this.closed[b];
        if (s) addSparse(target, s);
      }
    }
  }

  statsOf(first: number, last: number): HistogramStats | null {
    let out: HistogramStats | null = null;
    for (let b = first; b <= last; b++) {
      const s = this.stats[b];
      if (!s) continue;
      if (!out) out = { ...s };
      else {
        out.count += s.count;
        out.sumMs += s.sumMs;
        out.minMs = Math.min(out.minMs, s.minMs);
        out.maxMs = Math.max(out.maxMs, s.maxMs);
      }
    }
    return out;
  }
}

export interface GaugeStats {
  min: number;
  max: number;
  /** Time-weighted: each value counts for as long as it was held. */
  avg: number;
  /** The value at the end of the window. */
  last: number;
}

/**
 * Gauges: a value holds until the next one. Per bucket: min, max and last of
 * the values held in it, and the integral of the value over the time covered,
 * for time-weighted averages (a gauge set on every connection change would
 * otherwise weigh busy moments more).
 */
export class GaugeSeries {
  private value: number | null = null;
  private sinceMs = 0;
  private readonly min: number[] = [];
  private readonly max: number[] = [];
  private readonly last: number[] = [];
  private readonly integral: number[] = [];
  private readonly covered: number[] = [];

  constructor(private readonly bucketMs: number) {}

  private mark(b: number, v: number): void {
    const lo = this.min[b];
    if (lo === undefined || v < lo) this.min[b] = v;
    const hi = this.max[b];
    if (hi === undefined || v > hi) this.max[b] = v;
    this.last[b] = v;
  }

  /** Carries the current value forward to `tMs` (ms since the start). */
  extendTo(tMs: number): void {
    const v = this.value;
    if (v === null) {
      this.sinceMs = tMs;
      return;
    }
    let from = this.sinceMs;
    while (from < tMs) {
      const b = Math.floor(from / this.bucketMs);
      const end = Math.min(tMs, (b + 1) * this.bucketMs);
      this.integral[b] = (this.integral[b] ?? 0) + v * (end - from);
      this.covered[b] = (this.covered[b] ?? 0) + (end - from);
      this.mark(b, v);
      from = end;
    }
    this.sinceMs = tMs;
  }

  set(tMs: number, v: number): void {
    this.extendTo(tMs);
    this.mark(Math.floor(tMs / this.bucketMs), v);
    this.value = v;
  }

  /** Stats over buckets first..last, after carrying the value to `nowMs`; null if never set there. */
  statsOf(first: number, last: number, nowMs: number): GaugeStats | null {
    this.extendTo(nowMs);
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let integral = 0;
    let covered = 0;
    let lastValue: number | null = null;
    for (let b = first; b <= last; b++) {
      const lo = this.min[b];
      if (lo === undefined) continue;
      min = Math.min(min, lo);
      max = Math.max(max, this.max[b]!);
      integral += this.integral[b] ?? 0;
      covered += this.covered[b] ?? 0;
      lastValue = this.last[b]!;
    }
    if (lastValue === null) return null;
    return { min, max, avg: covered > 0 ? integral / covered : lastValue, last: lastValue };
  }
}

/** A gauge over several tag sets: their values combined (sum or max) into one series. */
export class GaugeGroup {
  readonly series: GaugeSeries;
  private readonly members = new Map<string, number>();
  private sum = 0;

  constructor(
    bucketMs: number,
    private readonly combine: 'sum' | 'max',
  ) {
    this.series = new GaugeSeries(bucketMs);
  }

  update(tMs: number, member: string, v: number): void {
    const old = this.members.get(member);
    this.members.set(member, v);
    let combined: number;
    if (this.combine === 'sum') {
      // A running sum: the group is updated on every connection change, so no re-adding.
      this.sum += v - (old ?? 0);
      combined = this.sum;
    } else {
      combined = Number.NEGATIVE_INFINITY;
      for (const x of this.members.values()) if (x > combined) combined = x;
    }
    this.series.set(tMs, combined);
  }
}
