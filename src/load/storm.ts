/**
 * `taco load storm`: with N clients signed in, drop every connection at
 * once (as a network failure would: the SDK sees 1006 and reconnects by its
 * own policy) and measure how long until every client is signed in again,
 * with the server's admission control turning the excess away (4503 with
 * retry-after) as it does in production.
 */

import { TacoError } from '../core/errors.js';
import { monoMs, sleep } from './clock.js';
import type { ClientFleet } from './fleet.js';
import { type LatencySummary, summarize } from './hist.js';
import { fmtInt, fmtMs, type Progress, table } from './progress.js';
import {
  type ConnectPhase,
  connectFleet,
  type FleetSettings,
  serverFigures,
  type TargetOptions,
} from './session.js';

export interface StormOptions {
  target: TargetOptions;
  fleet: FleetSettings;
  /** Give up waiting for recovery after this long. */
  recoveryTimeoutMs: number;
  /** Quiet time between sign-in and the drop. */
  settleMs: number;
  /** Share of the sessions dropped (1 = all). */
  fraction?: number;
}

export interface StormResult {
  kind: 'storm';
  connect: ConnectPhase;
  /** Drop → every dropped client signed in again, in seconds. */
  allBackSec: number;
  /** Per-client time from the drop to its next welcome. */
  recovery: LatencySummary;
  attempts: number;
  rejected: number;
  serverRejected: number | null;
  peakAttemptsPerSec: number;
  timeline: { t: number; open: number; attempts: number; rejected: number }[];
}

export async function runStorm(o: StormOptions, p: Progress): Promise<StormResult> {
  const { fleet, phase } = await connectFleet(o.target, o.fleet, p);
  try {
    return { ...(await stormPhase(fleet, o, p)), connect: phase };
  } finally {
    await fleet.close();
  }
}

/** The storm on an already signed-in fleet; every client is signed in again when it resolves. */
export async function stormPhase(
  fleet: ClientFleet,
  o: Omit<StormOptions, 'fleet'>,
  p: Progress,
): Promise<Omit<StormResult, 'connect'>> {
  await sleep(o.settleMs);
  const before = fleet.snapshot();
  const server0 = await serverFigures(o.target.httpUrl);
  fleet.recovery.reset();
  const t0 = monoMs();
  fleet.storm(o.fraction ?? 1);
  const timeline: StormResult['timeline'] = [];
  let prev = before;
  let next = t0 + 1000;
  let s = fleet.snapshot();
  for (;;) {
    await sleep(50);
    fleet.check();
    s = fleet.snapshot();
    const now = monoMs();
    if (now >= next) {
      next += 1000;
      timeline.push({
        t: Math.round((now - t0) / 1000),
        open: s.open,
        attempts: s.attempts - prev.attempts,
        rejected: s.rejected - prev.rejected,
      });
      prev = s;
      p.line(
        `storm: ${fmtInt(s.open)}/${fmtInt(s.clients)} back, ${fmtInt(timeline.at(-1)!.attempts)} attempts/s, ` +
          `${fmtInt(timeline.at(-1)!.rejected)} turned away/s, ${((now - t0) / 1000).toFixed(0)} s`,
      );
    }
    // Every process has handled this drop (not an earlier one) and has all its clients back.
    if (s.stormAt >= t0 && s.stormAt < Number.POSITIVE_INFINITY && s.stormBackAt >= s.stormAt) break;
    if (now - t0 > o.recoveryTimeoutMs)
      throw new TacoError(
        'DEADLINE_EXCEEDED',
        `storm: only ${s.open} of ${s.clients} clients back after ${Math.round(o.recoveryTimeoutMs / 1000)} s`,
      );
  }
  p.done();
  await sleep(600); // last histogram deltas
  const end = fleet.snapshot();
  const server1 = await serverFigures(o.target.httpUrl);
  return {
    kind: 'storm',
    allBackSec: (end.stormBackAt - end.stormAt) / 1000,
    recovery: summarize(fleet.recovery),
    attempts: end.attempts - before.attempts,
    rejected: end.rejected - before.rejected,
    serverRejected: server0 && server1 ? server1.signInRejected - server0.signInRejected : null,
    peakAttemptsPerSec: Math.max(0, ...timeline.map((x) => x.attempts)),
    timeline,
  };
}

export function formatStorm(r: StormResult): string {
  return table('taco load storm', [
    [
      'clients',
      `${fmtInt(r.connect.clients)} signed in (${fmtInt(r.connect.signInsPerSec)}/s), then ` +
        `${r.recovery.count === r.connect.clients ? 'all' : fmtInt(r.recovery.count)} dropped at once`,
    ],
    ['all back', `${r.allBackSec.toFixed(2)} s`],
    [
      'per client',
      `p50 ${fmtMs(r.recovery.p50)}  p90 ${fmtMs(r.recovery.p90)}  p99 ${fmtMs(r.recovery.p99)}  max ${fmtMs(r.recovery.max)}`,
    ],
    ['attempts', `${fmtInt(r.attempts)} (peak ${fmtInt(r.peakAttemptsPerSec)}/s)`],
    [
      'turned away',
      `${fmtInt(r.rejected)} by admission control (4503 retry-after)` +
        (r.serverRejected !== null ? `; server counted ${fmtInt(r.serverRejected)}` : ''),
    ],
  ]);
}
