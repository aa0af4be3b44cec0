/**
 * Whether a run met its expectation. `expect: pass` needs every SLO to hold.
 * `expect: fail` needs at least one SLO to fail, and when the variant names an
 * SLO, that one must be among those failing: a variant that fails for another
 * reason has not shown what it was written to show.
 */
import { formatSlo } from '../slo/ast.js';
import { parseSlo } from '../slo/parse.js';
import type { SimRunResult } from './types.js';

export interface Verdict {
  ok: boolean;
  /** The SLOs that did not hold. */
  failedSlos: string[];
  /** One line for people. */
  reason: string;
}

function canonical(text: string): string {
  try {
    return formatSlo(parseSlo(text));
  } catch {
    return text;
  }
}

export function sameSlo(a: string, b: string): boolean {
  return a === b || canonical(a) === canonical(b);
}

export function judgeRun(run: SimRunResult): Verdict {
  const failedSlos = run.slos.filter((s) => !s.ok).map((s) => s.slo);
  if (run.expect === 'pass') {
    return failedSlos.length === 0
      ? { ok: true, failedSlos, reason: `all ${run.slos.length} SLOs held` }
      : { ok: false, failedSlos, reason: `failed ${failedSlos.join('; ')}` };
  }
  if (failedSlos.length === 0) {
    return { ok: false, failedSlos, reason: 'expected to fail, but every SLO held' };
  }
  const want = run.expectedFailingSlo;
  if (want !== null && !failedSlos.some((s) => sameSlo(s, want))) {
    return {
      ok: false,
      failedSlos,
      reason: `expected ${want} to fail; failed ${failedSlos.join('; ')} instead`,
    };
  }
  return { ok: true, failedSlos, reason: `failed as expected on ${failedSlos.join('; ')}` };
}

/**
 * How one SLO of a run is judged for per-SLO reports (JUnit): `judged` false
 * when its outcome does not decide the run (the other SLOs of a variant that
 * names the SLO it must fail on), and `ok` whether it went as expected.
 */
export function judgeSlo(run: SimRunResult, index: number): { judged: boolean; ok: boolean; note: string } {
  const slo = run.slos[index]!;
  if (run.expect === 'pass') return { judged: true, ok: slo.ok, note: slo.ok ? 'held' : 'failed' };
  const want = run.expectedFailingSlo;
  if (want !== null) {
    if (!sameSlo(slo.slo, want))
      return { judged: false, ok: true, note: `${slo.ok ? 'held' : 'failed'} (not judged)` };
    return {
      judged: true,
      ok: !slo.ok,
      note: slo.ok ? 'held, but this variant must fail it' : 'failed as expected',
    };
  }
  const verdict = judgeRun(run);
  return {
    judged: true,
    ok: verdict.ok,
    note: verdict.ok ? `${slo.ok ? 'held' : 'failed'} (variant failed as expected)` : verdict.reason,
  };
}

/** True when every run met its expectation (the exit code of `taco sim`). */
export function allAsExpected(runs: readonly SimRunResult[]): boolean {
  return runs.every((r) => judgeRun(r).ok);
}
