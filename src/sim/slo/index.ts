/** SLOs of scenarios: grammar, checks against the metric registry, evaluation on recorded runs. */
export {
  AGGREGATIONS,
  type Aggregation,
  formatSlo,
  OPERATORS,
  type Operator,
  type Slo,
  type SloWindow,
  type SometimesSlo,
  THRESHOLD_UNITS,
  type ThresholdSlo,
  type ThresholdUnit,
  thresholdValue,
} from './ast.js';
export { checkSlo } from './check.js';
export { SloError } from './errors.js';
export { evaluateSlo, evaluateSlos, type FaultTime, findFault, type SloResult } from './evaluate.js';
export { formatMs, formatValue } from './format-value.js';
export { parseSlo } from './parse.js';
export { checkScenarioSlos } from './scenario-check.js';
