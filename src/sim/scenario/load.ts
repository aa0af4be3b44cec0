/**
 * Reading scenario files. Everything that can be wrong with the input is
 * found here, before anything runs: YAML syntax, the schema, references
 * between sections, SLO syntax, and every variant's settings.
 */
import { readFileSync } from 'node:fs';
import { TacoError } from '../../core/errors.js';
import { ScenarioError } from './errors.js';
import { locate } from './issues.js';
import type { Scenario } from './schema.js';
import { validateDocument } from './validate.js';
import { buildVariant } from './variant.js';
import { YamlSource } from './yaml-source.js';

/** Parses and validates scenario `text`; `file` names it in errors. Throws ScenarioError (BAD_INPUT). */
export function parseScenario(text: string, file: string): Scenario {
  const source = new YamlSource(text, file);
  const syntax = source.syntaxIssues();
  if (syntax.length) throw new ScenarioError(syntax);
  const raw = source.toJS();
  const v = validateDocument(raw);
  if (!v.body) throw new ScenarioError(v.problems.map((p) => locate(p, source)));
  // A variant that cannot apply should fail now, not after the base run.
  const issues = Object.keys(v.body.variants).flatMap((name) => buildVariant(source, raw, name).issues);
  if (issues.length) throw new ScenarioError(issues);
  return { ...v.body, variant: null, scale: 1, source: { file, text } };
}

/** Reads and parses a scenario file; an unreadable file is BAD_INPUT too. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new TacoError('BAD_INPUT', `${file}: cannot read scenario: ${why}`, { file }, { cause: e });
  }
  return parseScenario(text, file);
}
