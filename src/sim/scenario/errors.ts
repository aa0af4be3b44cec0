/**
 * Scenario input errors. Each names FILE:LINE and the field path, e.g.
 * `scenarios/x.yaml:12: faults[1].at: expected a duration like 30s`, so
 * `taco sim` can print it as is and exit 2 (code BAD_INPUT).
 */
import { TacoError } from '../../core/errors.js';

export interface ScenarioIssue {
  file: string;
  line: number;
  /** Field path as written in the file: `faults[1].at`, `variants.no-jitter.set`. Empty for the whole document. */
  field: string;
  message: string;
}

export function formatIssue(i: ScenarioIssue): string {
  return i.field ? `${i.file}:${i.line}: ${i.field}: ${i.message}` : `${i.file}:${i.line}: ${i.message}`;
}

export class ScenarioError extends TacoError {
  /** Every problem found, in line order; the message lists them one per line. */
  readonly issues: readonly ScenarioIssue[];

  constructor(issues: readonly ScenarioIssue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line || a.field.localeCompare(b.field));
    const first = sorted[0] ?? { file: '?', line: 0, field: '', message: 'invalid scenario' };
    super('BAD_INPUT', sorted.length ? sorted.map(formatIssue).join('\n') : formatIssue(first), {
      file: first.file,
      line: first.line,
      field: first.field,
      issues: sorted,
    });
    this.name = 'ScenarioError';
    this.issues = sorted;
  }

  get file(): string {
    return this.details!['file'] as string;
  }
  get line(): number {
    return this.details!['line'] as number;
  }
  get field(): string {
    return this.details!['field'] as string;
  }
}

/** `['faults', 1, 'at']` → `faults[1].at`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
