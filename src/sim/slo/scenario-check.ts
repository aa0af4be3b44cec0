/**
 * Checks a scenario's SLOs against the engine's metric registry before the
 * run, so an unknown metric is reported as FILE:LINE: slo[i]: … (exit 2)
 * instead of after minutes of simulation.
 */
import type { MetricRegistry } from '../metrics/registry.js';
import { ScenarioError, type ScenarioIssue } from '../scenario/errors.js';
import type { Scenario } from '../scenario/schema.js';
import { YamlSource } from '../scenario/yaml-source.js';
import { checkSlo } from './check.js';
import { SloError } from './errors.js';
import { parseSlo } from './parse.js';

export function checkScenarioSlos(scenario: Scenario, registry: MetricRegistry): void {
  const issues: ScenarioIssue[] = [];
  let source: YamlSource | null = null;
  scenario.slo.forEach((text, i) => {
    try {
      checkSlo(parseSlo(text), registry, scenario.faults, text);
    } catch (e) {
      if (!(e instanceof SloError)) throw e;
      source ??= new YamlSource(scenario.source.text, scenario.source.file);
      issues.push({
        file: source.file,
        line: source.lineOf(['slo', i]),
        field: `slo[${i}]`,
        message: e.reason,
      });
    }
  });
  if (issues.length) throw new ScenarioError(issues);
}
