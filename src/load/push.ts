/**
 * `taco load push`: with N clients signed in (and ACKing, the SDK does it),
 * pushes at an open-model rate through the HTTP API (autocannon) or the gRPC
 * API (worker pool), and reports per second how many pushes were accepted,
 * delivered to a client and ACKed at the server, and the end-to-end latency
 * (API request intended → push in the client) from merged HDR histograms.
 */
import { TacoError } from '../core/errors.js';
import { monoMs, sleep } from './clock.js';
import type { ClientFleet, FleetSnapshot } from './fleet.js';
import { type LatencySummary, summarize } from './hist.js';
import { fmtInt, fmtMs, type Progress, table } from './progress.js';
import type { PushDriver, PushDriverCounts } from './push-driver.js';
import { grpcPushDriver } from './push-grpc.js';
import { httpPushDriver } from './push-http.js';
import {
  type ConnectPhase,
  connectFleet,
  type FleetSettings,
  serverFigures,
  type TargetOptions,
} from './session.js';

export interface PushOptions {
  target: TargetOptions;
  fleet: FleetSettings;
  api: 'http' | 'grpc';
  ratePerSec: number;
  durationMs: number;
  /** HTTP connections (autocannon) or gRPC threads. */
  connections: number;
  grpcThreads: number;
  kind: 'notification' | 'passthrough';
  /** After the last arrival, wait this long for answers and deliveries. */
  drainMs: number;
  /** Pushes before the measured window, to warm up (not counted in latency). */
  warmupMs: number;
  /** Read the server's ACK counter every this often during the run (0 = only before and after). */
  serverStatsEveryMs: number;
  /** Told when the measured window's pushes start and when the last of them has been sent. */
  onMeasuredWindow?: ((edge: 'start' | 'end') => void) | undefined;
}

export interface PushSecond {
  t: number;
  accepted: number;
  delivered: number;
  /** ACKs the server counted per second, averaged since its previous reading (null: not read this second). */
  acked: number | null;
}

export interface PushResult {
  kind: 'push';
  api: 'http' | 'grpc';
  connect: ConnectPhase;
  ratePerSec: number;
  durationSec: number;
  counts: PushDriverCounts;
  /** Sent but never answered by the end of the drain. */
  unanswered: number;
  delivered: number;
  acked: number | null;
  rates: { offered: number; accepted: number; delivered: number; acked: number | null };
  perSecond: PushSecond[];
  /** API request intended → push received by the client (the client's view). */
  latency: LatencySummary;
  /** Message accepted at the server (its `ts`, ms resolution) → received by the client. */
  acceptToClient: LatencySummary;
  lost: number;
}

function driverFor(o: PushPhaseOptions, measured: boolean): PushDriver {
  const spec = {
    devicePrefix: o.fleet.devicePrefix,
    clients: o.fleet.clients,
    kind: o.kind,
    ttlSec: 60,
    measured,
  };
  return o.api === 'http'
    ? httpPushDriver({
        httpUrl: o.target.httpUrl,
        app: o.target.app,
        secret: o.target.secret,
        spec,
        connections: o.connections,
      })
    : grpcPushDriver({
        address: o.target.grpcAddress,
        app: o.target.app,
        secret: o.target.secret,
        spec,
        threads: o.grpcThreads,
      });
}

export type PushPhaseOptions = Omit<PushOptions, 'fleet'> & {
  fleet: Pick<FleetSettings, 'devicePrefix' | 'clients'>;
};

export async function runPush(o: PushOptions, p: Progress): Promise<PushResult> {
  const { fleet, phase } = await connectFleet(o.target, o.fleet, p);
  try {
    return { ...(await pushPhase(fleet, o, p)), connect: phase };
  } finally {
    await fleet.close();
  }
}

/** The push phase on an already signed-in fleet. */
export async function pushPhase(
  fleet: ClientFleet,
  o: PushPhaseOptions,
  p: Progress,
): Promise<Omit<PushResult, 'connect'>> {
  await fleet.resetLatency();
  const server0 = await serverFigures(o.target.httpUrl);
  // One driver for the warm-up and the measured run: its connections are warm when the measurement starts.
  const driver = driverFor(o, o.warmupMs === 0);
  if (o.warmupMs > 0) {
    p.line(`warming up: ${o.warmupMs / 1000} s at ${fmtInt(o.ratePerSec)}/s`);
    await driver.start(o.ratePerSec, o.warmupMs);
    // The measured window starts on a drained system, as the reference's does (warm-up, then a pause):
    // a fresh node answers its first seconds slowly (JIT, first allocations), and a measurement that
    // starts with that backlog in flight reports the cold start, not the rate.
    const drainFrom = monoMs();
    while (driver.inFlight > 0 && monoMs() - drainFrom < o.drainMs) await sleep(20);
    await sleep(500);
    p.line(
      driver.inFlight > 0
        ? `warm-up not drained after ${o.drainMs / 1000} s (${fmtInt(driver.inFlight)} in flight): measuring anyway`
        : `warm-up drained in ${fmtInt(monoMs() - drainFrom - 500)} ms`,
    );
    driver.setMeasured(true);
  }
  const snap0: FleetSnapshot = fleet.snapshot();
  const perSecond: PushSecond[] = [];
  let prev = { accepted: 0, delivered: 0 };
  // /metrics is not free on the server (its default collectors walk every open file and handle):
  // it is read every `serverStatsEveryMs` only, and the ACK rate is the average over that window.
  let lastSrv = server0 ? { at: monoMs(), acked: server0.pushDelivered } : undefined;
  const start = monoMs();
  let sampling = true;
  const sampler = (async () => {
    let next = start + 1000;
    while (sampling) {
      await sleep(Math.max(0, next - monoMs()));
      next += 1000;
      fleet.check();
      const c = driver.counts;
      const s = fleet.snapshot();
      const delivered = s.runPushes - snap0.runPushes;
      let acked: number | null = null;
      if (lastSrv && o.serverStatsEveryMs > 0 && monoMs() - lastSrv.at >= o.serverStatsEveryMs - 50) {
        const srv = await serverFigures(o.target.httpUrl);
        if (srv) {
          const now = monoMs();
          acked = Math.round(((srv.pushDelivered - lastSrv.acked) * 1000) / (now - lastSrv.at));
          lastSrv = { at: now, acked: srv.pushDelivered };
        }
      }
      const sec: PushSecond = {
        t: Math.round((monoMs() - start) / 1000),
        accepted: c.accepted - prev.accepted,
        delivered: delivered - prev.delivered,
        acked,
      };
      perSecond.push(sec);
      prev = { accepted: c.accepted, delivered };
      p.line(
        `t=${sec.t}s accepted ${fmtInt(sec.accepted)}/s delivered ${fmtInt(sec.delivered)}/s` +
          (sec.acked !== null
            ? ` ACKed ${fmtInt(sec.acked)}/s (server, last ${o.serverStatsEveryMs / 1000} s)`
            : '') +
          ` in flight ${fmtInt(driver.inFlight)} p99 ${fmtMs(summarize(fleet.e2e).p99)} sessions ${fmtInt(s.open)}`,
      );
    }
  })();
  try {
    o.onMeasuredWindow?.('start');
    await driver.start(o.ratePerSec, o.durationMs);
    o.onMeasuredWindow?.('end');
    await driver.stop(o.drainMs);
    // Let the last pushes reach their clients (and their ACKs the server).
    const counts = driver.counts;
    const end = monoMs() + o.drainMs;
    while (monoMs() < end && fleet.snapshot().runPushes - snap0.runPushes < counts.accepted) await sleep(50);
    await sleep(600); // one more stats report from every client process
  } finally {
    sampling = false;
    await sampler;
    p.done();
  }
  const counts = driver.counts;
  const s = fleet.snapshot();
  const delivered = s.runPushes - snap0.runPushes;
  const server1 = await serverFigures(o.target.httpUrl);
  // The server counts the warm-up's ACKs too (read before it, to keep /metrics out of the measured run).
  const acked =
    server0 && server1 ? server1.pushDelivered - server0.pushDelivered - driver.warmupAccepted : null;
  const secs = o.durationMs / 1000;
  return {
    kind: 'push',
    api: o.api,
    ratePerSec: o.ratePerSec,
    durationSec: secs,
    counts,
    unanswered: Math.max(0, counts.sent - counts.accepted - counts.rejected - counts.errors),
    delivered,
    acked,
    rates: {
      offered: o.ratePerSec,
      accepted: counts.accepted / secs,
      delivered: delivered / secs,
      acked: acked === null ? null : acked / secs,
    },
    perSecond,
    latency: summarize(fleet.e2e),
    acceptToClient: summarize(fleet.accept),
    lost: Math.max(0, counts.accepted - delivered),
  };
}

export function formatPush(r: PushResult): string {
  const l = r.latency;
  return table(`taco load push (${r.api.toUpperCase()} API)`, [
    ['clients', `${fmtInt(r.connect.clients)} signed in (${fmtInt(r.connect.signInsPerSec)}/s)`],
    [
      'offered',
      `${fmtInt(r.ratePerSec)}/s for ${r.durationSec} s: ${fmtInt(r.counts.sent)} sent, ` +
        `${fmtInt(r.counts.dropped)} never sent (the API did not keep up)`,
    ],
    [
      'accepted',
      `${fmtInt(r.counts.accepted)} (${fmtInt(r.rates.accepted)}/s); rejected ${fmtInt(r.counts.rejected)}` +
        `${Object.keys(r.counts.statuses).length ? ` ${JSON.stringify(r.counts.statuses)}` : ''}; ` +
        `failed ${fmtInt(r.counts.errors)}; unanswered ${fmtInt(r.unanswered)}`,
    ],
    ['delivered', `${fmtInt(r.delivered)} (${fmtInt(r.rates.delivered)}/s), not delivered ${fmtInt(r.lost)}`],
    [
      'ACKed',
      r.acked === null
        ? 'unknown (no /metrics)'
        : `${fmtInt(r.acked)} (${fmtInt(r.rates.acked ?? 0)}/s) counted by the server`,
    ],
    [
      'end to end',
      `p50 ${fmtMs(l.p50)}  p90 ${fmtMs(l.p90)}  p99 ${fmtMs(l.p99)}  p99.9 ${fmtMs(l.p999)}  max ${fmtMs(l.max)}`,
    ],
    [
      'accept→client',
      `p50 ${fmtMs(r.acceptToClient.p50)}  p99 ${fmtMs(r.acceptToClient.p99)} (ms resolution)`,
    ],
  ]);
}

export function checkPushOptions(o: PushOptions): void {
  if (!(o.ratePerSec > 0)) throw new TacoError('BAD_INPUT', '--rate must be > 0');
}
