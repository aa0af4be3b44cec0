/**
 * Checks an SLO against what can be measured, before the run: the metric is
 * registered, the aggregation suits its kind, the unit suits the metric, and
 * `after FAULT` names a fault of the scenario. Failures are SloError (exit 2).
 *
 * Aggregations per kind:
 *   counter, event  count, rate
 *   histogram       count, rate, avg, min, max, med, p(N)
 *   gauge           avg (time-weighted), min, max
 */
import type { MetricDef, MetricKind, MetricRegistry } from '../metrics/registry.js';
import { faultRefProblem } from '../scenario/cross-checks.js';
import { type Aggregation, formatSlo, isDurationUnit, type Slo } from './ast.js';
import { SloError } from './errors.js';

const ALLOWED: Record<MetricKind, readonly Aggregation[]> = {
  counter: ['count', 'rate'],
  event: ['count', 'rate'],
  histogram: ['count', 'rate', 'avg', 'min', 'max', 'med', 'p'],
  gauge: ['avg', 'min', 'max'],
};

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function unknownMetric(name: string, registry: MetricRegistry, what: string): string {
  const near = registry
    .list()
    .filter((d) => d.declared !== false)
    .map((d) => ({ name: d.name, d: distance(name, d.name) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 4)))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, 3)
    .map((x) => `"${x.name}"`);
  return `unknown ${what} "${name}"${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}`;
}

/** The registered metric an SLO reads. Throws SloError for every problem. */
export function checkSlo(
  slo: Slo,
  registry: MetricRegistry,
  faults?: readonly { kind: string; name?: string | undefined }[],
  text: string = formatSlo(slo),
): MetricDef {
  const fail = (reason: string): never => {
    throw new SloError(text, reason);
  };
  const name = slo.type === 'sometimes' ? slo.event : slo.metric;
  const def = registry.get(name);
  if (!def || def.declared === false)
    fail(unknownMetric(name, registry, slo.type === 'sometimes' ? 'event' : 'metric'));
  if (slo.type === 'sometimes') {
    if (def!.kind !== 'event' && def!.kind !== 'counter')
      fail(`sometimes() needs an event or a counter; ${name} is a ${def!.kind}`);
  } else {
    const agg = slo.agg === 'p' ? `p(${slo.q})` : slo.agg;
    if (!ALLOWED[def!.kind].includes(slo.agg)) {
      fail(`${agg}() does not apply to ${name}, a ${def!.kind} (use ${ALLOWED[def!.kind].join(', ')})`);
    }
    if (def!.kind === 'event' && Object.keys(slo.tags).length)
      fail(`events have no tags; ${name} is an event`);
    const valueAgg = slo.agg !== 'count' && slo.agg !== 'rate';
    if (isDurationUnit(slo.unit) && !(valueAgg && def!.unit === 'ms')) {
      fail(
        `${slo.value}${slo.unit} is a duration, but ${agg}(${name}) is not${def!.unit ? ` (unit ${valueAgg ? def!.unit : slo.agg === 'rate' ? '/s' : def!.unit})` : ''}`,
      );
    }
    if (slo.unit === '%' && !(valueAgg && def!.unit === 'ratio')) {
      fail(`% needs a ratio metric; ${name} is in ${def!.unit || 'plain numbers'}`);
    }
  }
  if (slo.window && faults) {
    const problem = faultRefProblem(slo.window.after, faults);
    if (problem) fail(problem);
  }
  return def!;
}
