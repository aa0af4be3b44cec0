/** Durations on the command line: `500ms`, `30s`, `5m`, `2h`, `7d`. */
import { TacoError } from '../core/errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s.trim());
  if (!m)
    throw new TacoError(
      'BAD_INPUT',
      `${what} ${JSON.stringify(s)}: expected a duration like 500ms, 30s, 5m, 2h or 7d`,
    );
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}
