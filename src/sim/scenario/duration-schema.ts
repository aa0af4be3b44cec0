/** Zod types for durations in scenario files: the input is text or a number of ms, the output is ms. */
import { z } from 'zod';
import { tryParseDuration } from './duration.js';

export const DURATION_HINT = 'expected a duration like 30s';

/** A duration (≥ 0), normalised to milliseconds. */
export const durationMs = z.unknown().transform((v, ctx) => {
  const ms = tryParseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `${DURATION_HINT} (got ${JSON.stringify(v) ?? 'nothing'})` });
    return z.NEVER;
  }
  return ms;
});

/** A duration > 0, normalised to milliseconds. */
export const positiveDurationMs = durationMs.refine((ms) => ms > 0, { message: 'must be longer than 0' });
