/**
 * Durations in scenario files and SLOs: a string `NUMBER UNIT` with UNIT in
 * us, ms, s, m, h (`500ms`, `30s`, `1.5m`, `1h`), or a bare number meaning
 * milliseconds. Values are returned in milliseconds and may be fractional
 * (`250us` → 0.25) because engine latencies are often below a millisecond.
 */
import { TacoError } from '../../core/errors.js';

const UNIT_MS = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

const DURATION_RE = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)$/;

/** Milliseconds, or null when `value` is not a duration. Negative and non-finite values are not durations. */
export function tryParseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = DURATION_RE.exec(value.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
}

/** Milliseconds; throws BAD_INPUT with "expected a duration like 30s" otherwise. */
export function parseDuration(value: string | number): number {
  const ms = tryParseDuration(value);
  if (ms === null) {
    throw new TacoError('BAD_INPUT', `expected a duration like 30s, got ${JSON.stringify(value)}`, { value });
  }
  return ms;
}

export function unitMs(unit: DurationUnit): number {
  return UNIT_MS[unit];
}

/**
 * The shortest exact text for `ms` in one unit (`90000` → `90s`, `120000` →
 * `2m`, `1500` → `1500ms`), so printed durations parse back to the same value.
 */
export function formatDuration(ms: number): string {
  if (ms > 0) {
    for (const unit of ['h', 'm', 's'] as const) {
      const n = ms / UNIT_MS[unit];
      if (Number.isInteger(n)) return `${n}${unit}`;
    }
  }
  if (Number.isInteger(ms)) return `${ms}ms`;
  const us = ms * 1000;
  return Number.isInteger(us) ? `${us}us` : `${ms}ms`;
}
