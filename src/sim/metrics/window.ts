/**
 * Time windows over the recorder's buckets. Times are ms since the start of
 * the run. A window [from, to) is widened to the buckets it overlaps (align
 * fault times with bucket boundaries for exact windows) and clipped to the
 * time recorded so far; `spanMs` is the time those buckets cover, the
 * denominator of rates.
 */
export interface BucketWindow {
  /** First and last bucket included; empty when last < first. */
  first: number;
  last: number;
  /** The covered time, ms since the start: [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  spanMs: number;
}

export function bucketWindow(
  fromMs: number,
  toMs: number,
  elapsedMs: number,
  bucketMs: number,
): BucketWindow {
  const from = Math.min(Math.max(fromMs, 0), elapsedMs);
  const to = Math.min(Math.max(toMs, from), elapsedMs);
  const first = Math.floor(from / bucketMs);
  // A window reaching the end includes the bucket holding `elapsedMs`, so what
  // was recorded at the very last instant is counted.
  const last = toMs >= elapsedMs ? Math.floor(elapsedMs / bucketMs) : Math.ceil(to / bucketMs) - 1;
  if (last < first) return { first, last: first - 1, fromMs: from, toMs: from, spanMs: 0 };
  const start = first * bucketMs;
  const end = Math.min((last + 1) * bucketMs, elapsedMs);
  return { first, last, fromMs: start, toMs: Math.max(end, start), spanMs: Math.max(end - start, 0) };
}
