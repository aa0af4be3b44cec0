/**
 * Telemetry port bound to prom-client: core metric `push.latency` becomes
 * `taco_push_latency_ms` (histogram), counters get `_total`, gauges stay as is.
 *
 * The core calls this several times per push (accepted, delivered, latency).
 * prom-client hashes the label object on every `inc`/`observe` (sorting and
 * joining the label values, then validating them), which showed in the
 * saturation profile; every metric of this node has the same fixed labels,
 * so values are kept in plain numbers here and handed to prom-client only
 * when /metrics is scraped (the metrics' `collect` hook). The histogram is a
 * small registry metric of its own, exported in the same text format as
 * prom-client's Histogram.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Telemetry } from '../core/ports.js';

const promName = (name: string) => `taco_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;

export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

type Labels = Record<string, string | number>;

interface CounterCell {
  /** Increments not yet handed to prom-client. */
  pending: number;
}

interface GaugeCell {
  value: number;
  dirty: boolean;
}

interface ValuePair {
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  value: number;
  metricName: string;
}

/** A fixed-label histogram that only adds to arrays when observed; formatted like prom-client's at scrape time. */
export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  /** What prom-client's Registry formats: cumulative buckets, +Inf, sum, count. */
  getForPromString(): { name: string; help: string; type: string; aggregator: string; values: ValuePair[] } {
    const values: ValuePair[] = [];
    const bucket = `${this.name}_bucket`;
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!;
      values.push({
        labels: { le: this.bounds[i]! },
        sharedLabels: this.labels,
        value: acc,
        metricName: bucket,
      });
    }
    values.push({ labels: { le: '+Inf' }, sharedLabels: this.labels, value: this.count, metricName: bucket });
    values.push({ labels: {}, sharedLabels: this.labels, value: this.sum, metricName: `${this.name}_sum` });
    values.push({
      labels: {},
      sharedLabels: this.labels,
      value: this.count,
      metricName: `${this.name}_count`,
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The JSON form (`registry.getMetricsAsJSON`): labels merged. */
  get() {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map((v) => ({
        labels: { ...v.labels, ...v.sharedLabels },
        value: v.value,
        metricName: v.metricName,
      })),
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class PromTelemetry implements Telemetry {
  private readonly counters = new Map<string, CounterCell>();
  private readonly gauges = new Map<string, GaugeCell>();
  private readonly histograms = new Map<string, LocalHistogram>();

  constructor(
    private readonly registry: Registry,
    private readonly labels: Labels,
  ) {}

  count(name: string, n = 1): void {
    let c = this.counters.get(name);
    if (!c) c = this.newCounter(name);
    c.pending += n;
  }

  observe(name: string, value: number): void {
    let h = this.histograms.get(name);
    if (!h) {
      h = new LocalHistogram(
        `${promName(name)}_ms`,
        `${name} in milliseconds`,
        this.labels,
        LATENCY_BUCKETS_MS,
      );
      this.registry.registerMetric(h as never);
      this.histograms.set(name, h);
    }
    h.observe(value);
  }

  gauge(name: string, value: number): void {
    let g = this.gauges.get(name);
    if (!g) g = this.newGauge(name);
    g.value = value;
    g.dirty = true;
  }

  private newCounter(name: string): CounterCell {
    const cell: CounterCell = { pending: 0 };
    const labels = this.labels;
    const c = new Counter({
      name: `${promName(name)}_total`,
      help: `count of ${name}`,
      labelNames: Object.keys(labels),
      registers: [this.registry],
      collect() {
        // At least once, so the series shows with its labels even at 0.
        this.inc(labels, cell.pending);
        cell.pending = 0;
      },
    });
    void c;
    this.counters.set(name, cell);
    return cell;
  }

  private newGauge(name: string): GaugeCell {
    const cell: GaugeCell = { value: 0, dirty: false };
    const labels = this.labels;
    new Gauge({
      name: promName(name),
      help: `${name}`,
      labelNames: Object.keys(labels),
      registers: [this.registry],
      collect() {
        if (!cell.dirty) return;
        this.set(labels, cell.value);
        cell.dirty = false;
      },
    });
    this.gauges.set(name, cell);
    return cell;
  }
}
