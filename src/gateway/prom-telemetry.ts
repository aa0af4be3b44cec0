/**
 * Telemetry port bound to prom-client: core metric `push.latency` becomes
 * `taco_push_latency_ms` (histogram), counters get `_total`, gauges stay as is.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Telemetry } from '../core/ports.js';

const promName = (name: string) => `taco_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;

export class PromTelemetry implements Telemetry {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();

  constructor(
    private readonly registry: Registry,
    private readonly labels: Record<string, string | number>,
  ) {}

  count(name: string, n = 1): void {
    let c = this.counters.get(name);
    if (!c) {
      c = new Counter({
        name: `${promName(name)}_total`,
        help: `count of ${name}`,
        labelNames: Object.keys(this.labels),
        registers: [this.registry],
      });
      this.counters.set(name, c);
    }
    c.inc(this.labels, n);
  }

  observe(name: string, value: number): void {
    let h = this.histograms.get(name);
    if (!h) {
      h = new Histogram({
        name: `${promName(name)}_ms`,
        help: `${name} in milliseconds`,
        labelNames: Object.keys(this.labels),
        buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000],
        registers: [this.registry],
      });
      this.histograms.set(name, h);
    }
    h.observe(this.labels, value);
  }

  gauge(name: string, value: number): void {
    let g = this.gauges.get(name);
    if (!g) {
      g = new Gauge({
        name: promName(name),
        help: `${name}`,
        labelNames: Object.keys(this.labels),
        registers: [this.registry],
      });
      this.gauges.set(name, g);
    }
    g.set(this.labels, value);
  }
}
