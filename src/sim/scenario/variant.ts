/**
 * Variants: the same scenario with settings changed. Each `set` path is
 * applied to the file's own data (before defaults and normalisation) and the
 * result is validated again, so a variant is held to the same rules as the
 * base and its errors point at the variant's lines in the file.
 */
import { formatPath, ScenarioError, type ScenarioIssue } from './errors.js';
import { locate, type Problem } from './issues.js';
import { scale } from './scale.js';
import { type Scenario, type ScenarioBody, ScenarioFileSchema } from './schema.js';
import { parseSettingPath, type Segment, setIn, settingPathProblem } from './setting-paths.js';
import { isPlainMap, validateDocument } from './validate.js';
import { YamlSource } from './yaml-source.js';

type Built = { body: ScenarioBody; issues: [] } | { body: null; issues: ScenarioIssue[] };

function startsWith(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => String(seg) === String(path[i]));
}

/** The body of variant `name` of the document `raw` read from `source`, or the issues that prevent it. */
export function buildVariant(source: YamlSource, raw: unknown, name: string): Built {
  const variants = isPlainMap(raw) && isPlainMap(raw['variants']) ? raw['variants'] : {};
  const variant = variants[name];
  if (!isPlainMap(variant) || !isPlainMap(variant['set'])) {
    const have = Object.keys(variants);
    return {
      body: null,
      issues: [
        {
          file: source.file,
          line: source.keyLineOf(['variants']),
          field: 'variants',
          message: `no variant "${name}"${have.length ? ` (have ${have.join(', ')})` : ''}`,
        },
      ],
    };
  }
  const doc = structuredClone(raw) as Record<string, unknown>;
  const entries: { text: string; path: Segment[]; line: number; field: string }[] = [];
  const issues: ScenarioIssue[] = [];
  for (const [text, value] of Object.entries(variant['set'])) {
    const line = source.keyLineOf(['variants', name, 'set', text]);
    const field = `variants.${name}.set.${text}`;
    const path = parseSettingPath(text);
    const problem = path ? settingPathProblem(ScenarioFileSchema, path, raw) : 'malformed setting path';
    if (!path || problem) {
      issues.push({ file: source.file, line, field, message: problem ?? 'malformed setting path' });
      continue;
    }
    setIn(doc, path, value);
    entries.push({ text, path, line, field });
  }
  if (issues.length) return { body: null, issues };

  const v = validateDocument(doc);
  if (v.body) return { body: v.body, issues: [] };
  const variantLine = source.keyLineOf(['variants', name]);
  return {
    body: null,
    issues: v.problems.map((p: Problem): ScenarioIssue => {
      // A problem at or under (or above) a set path is that setting's fault; anything else is a
      // consequence elsewhere in the document (a crash of gateway 5 when the variant leaves 2).
      const entry = entries.find((e) => startsWith(p.path, e.path) || startsWith(e.path, p.path));
      const where = formatPath(p.path);
      if (entry) {
        const detail = formatPath(entry.path) === where ? p.message : `${where}: ${p.message}`;
        return { file: source.file, line: entry.line, field: entry.field, message: detail };
      }
      const base = locate(p, source);
      return {
        file: source.file,
        line: variantLine,
        field: `variants.${name}`,
        message: `${where || 'document'}: ${p.message} (line ${base.line}, with this variant's settings)`,
      };
    }),
  };
}

/**
 * The scenario with variant `name` applied to its base (the variant, if any,
 * already applied to `scenario` is ignored) and the same scale. Throws
 * ScenarioError naming the file, the variant's line and the path.
 */
export function applyVariant(scenario: Scenario, name: string): Scenario {
  const source = new YamlSource(scenario.source.text, scenario.source.file);
  const built = buildVariant(source, source.toJS(), name);
  if (!built.body) throw new ScenarioError(built.issues);
  const out: Scenario = { ...built.body, variant: name, scale: 1, source: scenario.source };
  return scenario.scale === 1 ? out : scale(out, scenario.scale);
}
