/**
 * Turns zod issues into scenario issues: a message a person can act on and
 * the line of the field in the file.
 */
import type { z } from 'zod';
import { formatPath, type ScenarioIssue } from './errors.js';
import type { YamlSource } from './yaml-source.js';

type Path = readonly PropertyKey[];

/** Value of `input` at `path`, or undefined. */
export function valueAt(input: unknown, path: Path): unknown {
  let v: unknown = input;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return JSON.stringify(v);
}

function bound(issue: { inclusive?: boolean }, value: unknown, small: boolean): string {
  const op = small ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
  return `${op} ${String(value)}`;
}

/** Message for one zod issue; `value` is the input at the issue's path. */
export function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined
        ? `missing (expected ${issue.expected})`
        : `expected ${issue.expected}, got ${show(value)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join('|')}, got ${show(value)}`;
    case 'invalid_union': {
      const note = (issue as { note?: string }).note;
      const options = (issue as { options?: unknown[] }).options;
      if (note === 'No matching discriminator' && options) {
        if (value === undefined) return `missing (expected one of ${options.join(', ')})`;
        const what = (issue as { discriminator?: string }).discriminator === 'kind' ? 'fault kind' : 'value';
        return `unknown ${what} ${show(value)} (expected one of ${options.join(', ')})`;
      }
      return issue.message;
    }
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'set')
        return `needs at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === 'string') return issue.minimum === 1 ? 'must not be empty' : issue.message;
      return `must be ${bound(issue, issue.minimum, true)}, got ${show(value)}`;
    case 'too_big':
      if (issue.origin === 'array' || issue.origin === 'string') return issue.message;
      return `must be ${bound(issue, issue.maximum, false)}, got ${show(value)}`;
    case 'invalid_key':
      return `bad name ${show(value)}: ${issue.issues[0]?.message ?? issue.message}`;
    default:
      return issue.message;
  }
}

/** A problem at a path of the document, before it is given a line. */
export interface Problem {
  path: PropertyKey[];
  message: string;
  /** Set when the problem is an unknown key: `path` ends with it, and its line is the key's. */
  unknownKey?: boolean;
}

/** Problems for a failed parse of `input` (the document as data). */
export function zodProblems(error: z.ZodError, input: unknown): Problem[] {
  const out: Problem[] = [];
  for (const issue of error.issues) {
    const path = [...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: [...path, key], message: 'unknown field', unknownKey: true });
      continue;
    }
    // invalid_key reports the record's path; the offending key is in the issue.
    const key = issue.code === 'invalid_key' ? (issue as { key?: unknown }).key : undefined;
    out.push({ path, message: describeIssue(issue, key !== undefined ? key : valueAt(input, path)) });
  }
  return out;
}

/** Gives a problem the line of its field in `source`. */
export function locate(p: Problem, source: YamlSource): ScenarioIssue {
  const line = p.unknownKey
    ? source.lineOf(p.path.slice(0, -1), String(p.path.at(-1)))
    : source.keyLineOf(p.path);
  return { file: source.file, line, field: formatPath(p.path), message: p.message };
}
