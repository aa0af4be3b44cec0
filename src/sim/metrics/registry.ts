/**
 * The metric names a run may record and SLOs may name. The engine registers
 * its names before the run, so an SLO naming an unknown metric is an input
 * error found before anything runs, never a silent pass.
 *
 * Units: `ms` marks durations (SLO thresholds may then use ms/s/m/h),
 * `ratio` a value in [0, 1] (thresholds may use %); any other unit
 * (`connections`, `bytes`, `messages`) is shown as is.
 */
import { TacoError } from '../../core/errors.js';

export type MetricKind = 'counter' | 'histogram' | 'gauge' | 'event';

export interface MetricDef {
  name: string;
  kind: MetricKind;
  unit: string;
  description: string;
  /**
   * Gauges only: how the values of several tag sets combine when a query
   * covers more than one (no tag filter, or a partial one): `sum` (connections
   * in an ezone) or `max` (memory of the fullest gateway). Default `sum`.
   */
  combine?: 'sum' | 'max';
  /** False for names the recorder met without a registration (non-strict mode). */
  declared?: boolean;
}

export class MetricRegistry {
  private readonly defs = new Map<string, MetricDef>();

  /** Registers `def`; the same name twice must agree on its kind. */
  register(def: MetricDef): this {
    const old = this.defs.get(def.name);
    if (old && old.kind !== def.kind && old.declared !== false) {
      throw new TacoError('INTERNAL', `metric ${def.name} registered as ${old.kind} and as ${def.kind}`);
    }
    if (!old || old.declared === false || def.declared !== false)
      this.defs.set(def.name, { declared: true, ...def });
    return this;
  }

  registerAll(defs: Iterable<MetricDef>): this {
    for (const d of defs) this.register(d);
    return this;
  }

  get(name: string): MetricDef | undefined {
    return this.defs.get(name);
  }

  /** Registered (declared) names only. */
  has(name: string): boolean {
    const d = this.defs.get(name);
    return d !== undefined && d.declared !== false;
  }

  /** All definitions, sorted by name. */
  list(): MetricDef[] {
    return [...this.defs.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
