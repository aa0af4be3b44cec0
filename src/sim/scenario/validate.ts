/** Validates a scenario document (plain data from YAML) into its normalised body, or problems. */
import { crossCheck } from './cross-checks.js';
import { type Problem, zodProblems } from './issues.js';
import { type ScenarioBody, ScenarioFileSchema } from './schema.js';

export type Validated = { body: ScenarioBody; problems: [] } | { body: null; problems: Problem[] };

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function validateDocument(raw: unknown): Validated {
  if (!isPlainMap(raw)) {
    return {
      body: null,
      problems: [{ path: [], message: 'expected a map of scenario fields (name, seed, duration, …)' }],
    };
  }
  const r = ScenarioFileSchema.safeParse(raw);
  if (!r.success) return { body: null, problems: zodProblems(r.error, raw) };
  const problems = crossCheck(r.data, raw);
  if (problems.length) return { body: null, problems };
  // One source for the shard count: the core gets the topology's.
  const body = { ...r.data, config: { ...r.data.config, shards: r.data.topology.shards } };
  return { body, problems: [] };
}
