/** What `taco load push` asks of a push source (HTTP with autocannon, or gRPC from a worker pool). */

/** Which pushes to make: unicast to a random one of the fleet's devices. Plain data, so worker threads get it too. */
export interface PushBodySpec {
  devicePrefix: string;
  /** Devices are `${devicePrefix}0` … `${devicePrefix}${clients-1}`. */
  clients: number;
  kind: 'notification' | 'passthrough';
  ttlSec: number;
  /** Whether the driver's pushes count from the start (no warm-up). */
  measured: boolean;
}

export interface PushTarget {
  app: string;
  secret: string;
  spec: PushBodySpec;
}

/**
 * The Send body (HTTP JSON shape) of an arrival intended at `t` (monoMs), stamped into `data.t`;
 * `data.m` = 0 marks a warm-up push that clients leave out of the figures.
 */
export function pushBody(spec: PushBodySpec, t: number, measured: boolean): Record<string, unknown> {
  const device = `${spec.devicePrefix}${Math.floor(Math.random() * spec.clients)}`;
  return {
    to: { devices: [device] },
    kind: spec.kind,
    priority: 'normal',
    ttl: spec.ttlSec,
    data: { t, m: measured ? 1 : 0 },
  };
}

/**
 * The same body as `JSON.stringify(pushBody(...))`, written as a template: the load driver builds
 * one per request, and at 5,000/s the object and its stringify showed in the driver's profile.
 */
export function pushBodyJson(spec: PushBodySpec, t: number, measured: boolean): string {
  const device = JSON.stringify(`${spec.devicePrefix}${Math.floor(Math.random() * spec.clients)}`);
  return (
    `{"to":{"devices":[${device}]},"kind":${JSON.stringify(spec.kind)},"priority":"normal",` +
    `"ttl":${spec.ttlSec},"data":{"t":${t},"m":${measured ? 1 : 0}}}`
  );
}

export interface PushDriverCounts {
  /** Requests written. */
  sent: number;
  /** Answered 202 / OK. */
  accepted: number;
  /** Answered with an error status (HTTP 4xx/5xx, gRPC status). */
  rejected: number;
  /** No answer: connection error or timeout. */
  errors: number;
  /** Arrivals never sent: the load tool's backlog was full, or they were still queued at the end. */
  dropped: number;
  /** Error statuses seen, with counts. */
  statuses: Record<string, number>;
}

export function addCounts(a: PushDriverCounts, b: PushDriverCounts): PushDriverCounts {
  const statuses = { ...a.statuses };
  for (const [k, v] of Object.entries(b.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    sent: a.sent + b.sent,
    accepted: a.accepted + b.accepted,
    rejected: a.rejected + b.rejected,
    errors: a.errors + b.errors,
    dropped: a.dropped + b.dropped,
    statuses,
  };
}

export const emptyCounts = (): PushDriverCounts => ({
  sent: 0,
  accepted: 0,
  rejected: 0,
  errors: 0,
  dropped: 0,
  statuses: {},
});

export interface PushDriver {
  /** Counts of the measured arrivals (all of them when there is no warm-up). */
  readonly counts: PushDriverCounts;
  /** Warm-up arrivals the API accepted (their ACKs reach the server's counters too). */
  readonly warmupAccepted: number;
  /** Requests without an answer yet, plus arrivals queued in the driver. */
  readonly inFlight: number;
  /**
   * Issues arrivals at `ratePerSec` for `durationMs`; resolves when the last one is issued.
   * May be called again (after a warm-up); counts add up over the calls.
   */
  start(ratePerSec: number, durationMs: number): Promise<void>;
  /** Arrivals from now on count in the figures (`data.m` = 1); earlier ones were warm-up. */
  setMeasured(measured: boolean): void;
  /** Waits up to `graceMs` for answers, then closes every connection. */
  stop(graceMs: number): Promise<void>;
}
