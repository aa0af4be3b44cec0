/**
 * The simulator's metrics on virtual time. The engine calls setTime() as its
 * clock advances; counts, observations, gauge values and events land in the
 * bucket of that time (10 s by default), so an SLO window "within 3m after X"
 * merges the buckets it covers: counters add up, HDR histograms merge
 * exactly, gauges keep min/max/time-weighted averages.
 *
 * It implements the core's Telemetry port (count/observe/gauge) with optional
 * tags; the engine usually gives each node its own tagged view (withTags).
 *
 * Combining series of one metric: a query with a tag filter covers every tag
 * set that contains the filter (no filter: all of them). Counters and
 * histograms add up. Gauges combine by their definition's `combine` (sum or
 * max), kept up to date on every set for each subset of the tag keys, so the
 * combined gauge over time is exact rather than a sum of per-series maxima.
 */
import { TacoError } from '../../core/errors.js';
import { newHistogram, percentileMs } from './hdr.js';
import { type MetricDef, type MetricKind, MetricRegistry } from './registry.js';
import {
  CounterSeries,
  GaugeGroup,
  type GaugeStats,
  HistogramSeries,
  type HistogramStats,
} from './series.js';
import { matches, noTags, subsetKeys, type Tags, tagsKey } from './tags.js';
import { type BucketWindow, bucketWindow } from './window.js';

export interface RecorderOptions {
  registry?: MetricRegistry;
  /** The engine's clock value at the start of the run (virtual epoch ms). Default 0. */
  startMs?: number;
  /** Bucket length; SLO windows and chart points have this resolution. Default 10 s. */
  bucketMs?: number;
  /** Throw on names not registered beforehand (else they are registered as undeclared). Default false. */
  strict?: boolean;
}

export interface RecordedEvent {
  /** Ms since the start of the run. */
  tMs: number;
  name: string;
  fields: Record<string, unknown> | undefined;
}

/** A merged histogram over a window; values in ms. */
export interface HistogramView extends HistogramStats {
  meanMs: number;
  /** Nearest-rank percentile from the merged HDR histogram (0 < q ≤ 100), ≤ 0.1% high, within [min, max]. */
  percentile(q: number): number;
}

interface MetricState {
  def: MetricDef;
  /** Counters, events, histograms: one series per tag set. */
  series: Map<string, { tags: Tags; data: CounterSeries | HistogramSeries }>;
  /** Gauges: one combined series per subset of each tag set's keys. */
  groups: Map<string, GaugeGroup>;
  /** Gauges: tag sets seen, for tagValues(). */
  gaugeTags: Map<string, Tags>;
  /** Gauges: the subset keys of each tag set, computed once. */
  subsets: Map<string, string[]>;
}

export type SeriesStat = 'rate' | 'count' | 'avg' | 'min' | 'max' | 'last' | `p${number}`;

export interface SeriesData {
  /** Start of each bucket, ms since the start of the run. */
  tMs: number[];
  values: (number | null)[];
}

/**
 * HDR reports the highest value of a percentile's slot (up to 0.1% above
 * the true value, never below); kept within the exact min and max, so p(100)
 * is the max and no percentile exceeds what was observed.
 */
function within(v: number, st: HistogramStats): number {
  return Math.min(Math.max(v, st.minMs), st.maxMs);
}

export class MetricsRecorder {
  readonly registry: MetricRegistry;
  readonly startMs: number;
  readonly bucketMs: number;
  private readonly strict: boolean;
  private now: number;
  private bucket = 0;
  private readonly metrics = new Map<string, MetricState>();
  private readonly listeners: ((e: RecordedEvent) => void)[] = [];
  private eventsTotal = 0;
  private scratch: ReturnType<typeof newHistogram> | null = null;

  constructor(opts: RecorderOptions = {}) {
    this.registry = opts.registry ?? new MetricRegistry();
    this.startMs = opts.startMs ?? 0;
    this.bucketMs = opts.bucketMs ?? 10_000;
    this.strict = opts.strict ?? false;
    this.now = this.startMs;
    if (!(this.bucketMs > 0)) throw new TacoError('INTERNAL', `bucketMs must be > 0, got ${this.bucketMs}`);
  }

  // ---------- recording ----------

  /** Called by the engine as virtual time advances; never backwards. */
  setTime(nowMs: number): void {
    if (nowMs < this.now)
      throw new TacoError('INTERNAL', `metrics time went back from ${this.now} to ${nowMs}`);
    this.now = nowMs;
    this.bucket = Math.floor((nowMs - this.startMs) / this.bucketMs);
  }

  /** Ms since the start of the run. */
  get elapsedMs(): number {
    return this.now - this.startMs;
  }

  count(name: string, n = 1, tags?: Tags): void {
    (this.seriesOf(name, 'counter', tags) as CounterSeries).add(this.bucket, n);
  }

  observe(name: string, valueMs: number, tags?: Tags): void {
    if (Number.isNaN(valueMs)) throw new TacoError('INTERNAL', `metric ${name}: observed NaN`);
    (this.seriesOf(name, 'histogram', tags) as HistogramSeries).observe(this.bucket, valueMs);
  }

  gauge(name: string, value: number, tags?: Tags): void {
    if (Number.isNaN(value)) throw new TacoError('INTERNAL', `metric ${name}: gauge set to NaN`);
    const m = this.state(name, 'gauge');
    const key = tagsKey(tags);
    let subsets = m.subsets.get(key);
    if (!subsets) {
      subsets = subsetKeys(tags ?? noTags());
      m.subsets.set(key, subsets);
      m.gaugeTags.set(key, tags ?? noTags());
    }
    const t = this.elapsedMs;
    for (const sub of subsets) {
      let g = m.groups.get(sub);
      if (!g) m.groups.set(sub, (g = new GaugeGroup(this.bucketMs, m.def.combine ?? 'sum')));
      g.update(t, key, value);
    }
  }

  /** Something happened (for `sometimes(EVENT)` and the event log). */
  event(name: string, fields?: Record<string, unknown>): void {
    (this.seriesOf(name, 'event', undefined) as CounterSeries).add(this.bucket, 1);
    this.eventsTotal++;
    if (this.listeners.length) {
      const e: RecordedEvent = { tMs: this.elapsedMs, name, fields };
      for (const l of this.listeners) l(e);
    }
  }

  /** Every event, as it is recorded (the NDJSON event log subscribes here). */
  onEvent(listener: (e: RecordedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** A Telemetry-shaped view that adds `tags` to everything (one per simulated node). */
  withTags(tags: Tags): {
    count(name: string, n?: number): void;
    observe(name: string, valueMs: number): void;
    gauge(name: string, value: number): void;
  } {
    const frozen = Object.freeze({ ...tags });
    return {
      count: (name, n = 1) => this.count(name, n, frozen),
      observe: (name, v) => this.observe(name, v, frozen),
      gauge: (name, v) => this.gauge(name, v, frozen),
    };
  }

  private state(name: string, kind: MetricKind): MetricState {
    let m = this.metrics.get(name);
    if (m) {
      if (m.def.kind !== kind)
        throw new TacoError('INTERNAL', `metric ${name} is a ${m.def.kind}, recorded as ${kind}`);
      return m;
    }
    let def = this.registry.get(name);
    if (!def) {
      if (this.strict) throw new TacoError('INTERNAL', `metric ${name} is not registered`);
      def = { name, kind, unit: '', description: '', declared: false };
      this.registry.register(def);
    }
    if (def.kind !== kind)
      throw new TacoError('INTERNAL', `metric ${name} is registered as ${def.kind}, recorded as ${kind}`);
    m = { def, series: new Map(), groups: new Map(), gaugeTags: new Map(), subsets: new Map() };
    this.metrics.set(name, m);
    return m;
  }

  private seriesOf(name: string, kind: MetricKind, tags: Tags | undefined): CounterSeries | HistogramSeries {
    const m = this.state(name, kind);
    const key = tagsKey(tags);
    let s = m.series.get(key);
    if (!s) {
      s = {
        tags: tags ?? noTags(),
        data: kind === 'histogram' ? new HistogramSeries() : new CounterSeries(),
      };
      m.series.set(key, s);
    }
    return s.data;
  }

  // ---------- queries (times in ms since the start of the run) ----------

  /** The buckets covering [fromMs, toMs), clipped to the time recorded. */
  window(fromMs = 0, toMs = Number.POSITIVE_INFINITY): BucketWindow {
    return bucketWindow(fromMs, toMs, this.elapsedMs, this.bucketMs);
  }

  /** Kind of a metric that was registered or recorded, else undefined. */
  kindOf(name: string): MetricKind | undefined {
    return this.registry.get(name)?.kind;
  }

  private matching<T extends CounterSeries | HistogramSeries>(name: string, filter: Tags): T[] {
    const m = this.metrics.get(name);
    if (!m) return [];
    const out: T[] = [];
    for (const s of m.series.values()) if (matches(s.tags, filter)) out.push(s.data as T);
    return out;
  }

  /** Counters: the sum; histograms: observations; events: occurrences. 0 when nothing was recorded. */
  total(name: string, filter: Tags = noTags(), w: BucketWindow = this.window()): number {
    const kind = this.kindOf(name);
    if (kind === 'histogram') return this.histogramStats(name, filter, w)?.count ?? 0;
    let t = 0;
    for (const s of this.matching<CounterSeries>(name, filter)) t += s.total(w.first, w.last);
    return t;
  }

  private histogramStats(name: string, filter: Tags, w: BucketWindow): HistogramStats | null {
    let out: HistogramStats | null = null;
    for (const s of this.matching<HistogramSeries>(name, filter)) {
      const st = s.statsOf(w.first, w.last);
      if (!st) continue;
      if (!out) out = st;
      else {
        out.count += st.count;
        out.sumMs += st.sumMs;
        out.minMs = Math.min(out.minMs, st.minMs);
        out.maxMs = Math.max(out.maxMs, st.maxMs);
      }
    }
    return out;
  }

  /** The histogram of the matching series merged over the window, or null if nothing was observed. */
  histogram(name: string, filter: Tags = noTags(), w: BucketWindow = this.window()): HistogramView | null {
    const stats = this.histogramStats(name, filter, w);
    if (!stats || stats.count === 0) return null;
    const series = this.matching<HistogramSeries>(name, filter);
    let merged: ReturnType<typeof newHistogram> | null = null;
    const hist = () => {
      if (!merged) {
        // 64-bit counts: a merged hour of pushes may pass 2^31.
        merged = newHistogram(64);
        for (const s of series) s.mergeInto(merged, w.first, w.last);
      }
      return merged;
    };
    return {
      ...stats,
      meanMs: stats.sumMs / stats.count,
      percentile: (q) => within(percentileMs(hist(), q)!, stats),
    };
  }

  /** Gauge stats of the combined series for `filter` over the window, or null if never set there. */
  gaugeStats(name: string, filter: Tags = noTags(), w: BucketWindow = this.window()): GaugeStats | null {
    const g = this.metrics.get(name)?.groups.get(tagsKey(filter));
    return g ? g.series.statsOf(w.first, w.last, this.elapsedMs) : null;
  }

  /** Values seen for tag `key` of a metric, sorted. */
  tagValues(name: string, key: string): string[] {
    const m = this.metrics.get(name);
    if (!m) return [];
    const values = new Set<string>();
    const sets = m.def.kind === 'gauge' ? m.gaugeTags.values() : [...m.series.values()].map((s) => s.tags);
    for (const t of sets) if (t[key] !== undefined) values.add(t[key]);
    return [...values].sort();
  }

  /** Tag sets seen for a metric, as `k=v,…` keys, sorted. */
  tagSets(name: string): string[] {
    const m = this.metrics.get(name);
    if (!m) return [];
    return [...(m.def.kind === 'gauge' ? m.gaugeTags.keys() : m.series.keys())].sort();
  }

  /** Occurrences per event name over the run, names sorted. */
  eventCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of [...this.metrics.keys()].sort()) {
      if (this.metrics.get(name)!.def.kind === 'event') out[name] = this.total(name);
    }
    return out;
  }

  get eventCount(): number {
    return this.eventsTotal;
  }

  /**
   * One value per bucket, for charts. Counters and events: `rate` (per second)
   * or `count`; histograms: `pN` (p50, p99, p99.9), `avg`, `min`, `max`,
   * `count`, `rate`; gauges: `last`, `min`, `max`, `avg`. Null where a bucket
   * has no data. Buckets run from the start to the last one begun before now.
   */
  series(name: string, stat: SeriesStat, filter: Tags = noTags()): SeriesData {
    const kind = this.kindOf(name);
    const n = Math.max(1, Math.ceil(this.elapsedMs / this.bucketMs));
    const tMs: number[] = [];
    const values: (number | null)[] = [];
    for (let b = 0; b < n; b++) {
      const start = b * this.bucketMs;
      const w: BucketWindow = {
        first: b,
        last: b,
        fromMs: start,
        toMs: Math.min(start + this.bucketMs, this.elapsedMs),
        spanMs: Math.min(this.bucketMs, this.elapsedMs - start),
      };
      tMs.push(start);
      values.push(kind === undefined ? null : this.bucketValue(name, kind, stat, filter, w));
    }
    return { tMs, values };
  }

  private bucketValue(
    name: string,
    kind: MetricKind,
    stat: SeriesStat,
    filter: Tags,
    w: BucketWindow,
  ): number | null {
    if (stat === 'count' || stat === 'rate') {
      if (kind === 'gauge') return null;
      const c = this.total(name, filter, w);
      return stat === 'count' ? c : w.spanMs > 0 ? c / (w.spanMs / 1000) : null;
    }
    if (kind === 'gauge') {
      const g = this.gaugeStats(name, filter, w);
      if (!g || stat.startsWith('p')) return null;
      return g[stat as 'last' | 'min' | 'max' | 'avg'];
    }
    if (kind !== 'histogram') return null;
    const st = this.histogramStats(name, filter, w);
    if (!st || st.count === 0) return null;
    if (stat === 'avg') return st.sumMs / st.count;
    if (stat === 'min') return st.minMs;
    if (stat === 'max') return st.maxMs;
    if (!stat.startsWith('p')) return null;
    // One scratch histogram for all chart points: a chart asks for hundreds of buckets.
    this.scratch ??= newHistogram(64);
    this.scratch.reset();
    for (const s of this.matching<HistogramSeries>(name, filter)) s.mergeInto(this.scratch, w.first, w.last);
    return within(percentileMs(this.scratch, Number(stat.slice(1)))!, st);
  }
}
