/** Scenario files (shared/SPEC.md §6): loading, validation, variants, scaling. */
export { type DurationUnit, formatDuration, parseDuration, tryParseDuration } from './duration.js';
export { defaultEngineParams, type EngineParams, EnginesSchema } from './engines-schema.js';
export { formatIssue, formatPath, ScenarioError, type ScenarioIssue } from './errors.js';
export {
  ENGINE_NAMES,
  type EngineName,
  FAULT_KINDS,
  type Fault,
  type FaultKind,
  type FaultOf,
  parseShardSet,
} from './faults-schema.js';
export { loadScenario, parseScenario } from './load.js';
export { scale } from './scale.js';
export { type Scenario, type ScenarioBody, ScenarioFileSchema, type Variant } from './schema.js';
export { applyVariant } from './variant.js';
