/**
 * Exponential backoff with optional full jitter (AWS architecture blog's
 * "full jitter"): delay = random(0, min(max, base·2^attempt)). Shared by the
 * SDK's reconnects, the simulated clients and the dispatcher's retries.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  jitter: 'full' | 'none';
}

export function backoffDelayMs(p: BackoffPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(p.maxMs, p.baseMs * 2 ** Math.min(attempt, 30));
  return p.jitter === 'full' ? Math.floor(random() * ceiling) : ceiling;
}
