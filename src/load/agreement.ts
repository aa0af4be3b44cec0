/**
 * Keeps the simulator honest: the same situation run live (`taco load`
 * against a running `taco serve`) and in the simulator (the shipped core on
 * virtual time, src/sim/world.ts), compared.
 *
 * Live, on one fleet of `clients` (15,000) SDK-policy clients:
 *   1. sign every client in;
 *   2. push through the HTTP API at `pushRate` for `pushMs` while pings probe
 *      the round trip through the node's event loop under that same load →
 *      the simulator's link (rtt + jitter); the p99 of the pushes' end-to-end
 *      latency is the live figure;
 *   3. drop a third of the sessions at once and time until they are back:
 *      the node's warm sign-in throughput on this machine (the load clients
 *      share its cores, so this is what one node achieves here, not its pure
 *      CPU cost) → the simulator's service time per sign-in;
 *   4. drop every session at once and time until all are back (admission
 *      control in effect) — the live storm figure.
 * Simulated: one node (one process, one core), the same clients, push rate
 * and drop, with those inputs and the calibration file's other costs; the
 * same two figures (p99 of push.latency before the drop; the largest
 * reconnect recovery after it). Each must be within `tolerance` (25%) of
 * the live one. What the simulator has to get right on its own: the push
 * path (queue, dispatcher, two hops, the ACK) given the link, and the storm's
 * dynamics (the SDK's jittered backoff, admission control, the sign-in
 * queue) given the node's throughput.
 */
import type { Calibration } from '../sim/calibration.js';
import { loadCalibration } from '../sim/calibration.js';
import { msToUs, newHistogram } from '../sim/metrics/hdr.js';
import { SIM_EPOCH_MS, type SimRecorder, World, type WorldSpec } from '../sim/world.js';
import { sleep } from './clock.js';
import { type LatencySummary, summarize } from './hist.js';
import { fmtMs, type Progress, table } from './progress.js';
import { pushPhase } from './push.js';
import { connectFleet, defaultDevicePrefix, type FleetSettings, type TargetOptions } from './session.js';
import { stormPhase } from './storm.js';

export interface AgreementOptions {
  target: TargetOptions;
  clients: number;
  pushRate: number;
  pushMs: number;
  tolerance: number;
  perProcess: number;
  light: boolean;
  seed: number;
  calibration?: Calibration;
}

export const defaultAgreement = {
  clients: 15_000,
  pushRate: 500,
  pushMs: 10_000,
  tolerance: 0.25,
  perProcess: 8_000,
  light: true,
  seed: 7,
};

export interface SimInputs {
  signInUs: number;
  rttMs: number;
  jitterMs: number;
  calibration: Calibration;
}

export interface Pair {
  live: number;
  sim: number;
  /** |sim − live| / live */
  error: number;
  ok: boolean;
}

export interface AgreementResult {
  kind: 'agreement';
  clients: number;
  pushRate: number;
  inputs: SimInputs & {
    signInsPerSec: number;
    firstSignInsPerSec: number;
    partialStorm: { dropped: number; allBackSec: number };
    link: LatencySummary;
  };
  pushP99Ms: Pair;
  stormRecoverySec: Pair;
  ok: boolean;
  live: { push: LatencySummary; storm: { allBackSec: number; rejected: number; attempts: number } };
  sim: { push: LatencySummary; storm: { allBackSec: number; shed: number } };
}

function fleetSettings(o: AgreementOptions, clients: number): FleetSettings {
  return {
    clients,
    perProcess: o.perProcess,
    perAddress: 1000,
    connectRatePerSec: 0,
    maxConnectingPerProcess: 500,
    devicePrefix: defaultDevicePrefix(),
    connectTimeoutMs: 600_000,
    light: o.light,
  };
}

/**
 * The link as the simulator models it: each direction rtt/2 + U(0, jitter), so a
 * round trip is rtt + (U1 + U2)·jitter, whose median is rtt + jitter and whose
 * p99 is rtt + 1.859·jitter. Fitted to the measured p50 and p99 (p99 wins when
 * both cannot be met).
 */
export function fitLink(p50: number, p99: number): { rttMs: number; jitterMs: number } {
  const k = 2 - Math.sqrt(0.02);
  let jitter = Math.max(0, (p99 - p50) / (k - 1));
  let rtt = p50 - jitter;
  if (rtt < 0) {
    rtt = 0;
    jitter = p99 / k;
  }
  return { rttMs: rtt, jitterMs: jitter };
}

export interface SimRun {
  push: LatencySummary;
  allBackSec: number;
  shed: number;
}

/** Step 3: the simulated twin of the live run. */
export async function simulate(o: AgreementOptions, inputs: SimInputs): Promise<SimRun> {
  const rampMs = Math.ceil(((o.clients * inputs.signInUs) / 1000) * 1.5 + 10_000);
  const pushFrom = rampMs + 2_000;
  const stormAt = pushFrom + o.pushMs;
  const durationMs = stormAt + 180_000;
  const cal: Calibration = {
    ...inputs.calibration,
    // One node = one taco serve process = one core, serving sign-ins one at a time.
    gateway: { ...inputs.calibration.gateway, signInCpuUs: inputs.signInUs, cores: 1 },
    // Loopback, as measured; the SDK's own connect timeout (15 s) and pong timeout.
    network: {
      rttMs: inputs.rttMs,
      jitterMs: inputs.jitterMs,
      connectTimeoutMs: 15_000,
      pongTimeoutMs: 10_000,
    },
  };
  const spec: WorldSpec = {
    seed: o.seed,
    durationMs,
    ezones: [{ name: 'local', gateways: 1 }],
    clients: {
      count: o.clients,
      platforms: { android: 1, ios: 0, h5: 0 },
      heartbeatSec: 60,
      reconnect: { baseMs: 1000, maxMs: 60_000, jitter: 'full' },
      rampMs,
      dnsTtlMs: 60_000,
    },
    traffic: { pushPerSec: o.pushRate, upstreamPerSec: 0, ttlSec: 60 },
    faults: [],
    core: {},
    // The embedded queue has no rate limit of its own.
    engines: {
      queue: { perConsumerPerSec: 1e7, diskModeThreshold: 1e9, diskModeSlowdown: 1 },
      rpc: { maxConcurrentStreams: 100 },
    },
    calibration: cal,
    stormAttemptsPerSec: Math.max(50, o.clients / 50),
  };
  const latency = newHistogram();
  let maxRecovery = 0;
  let shed = 0;
  let world: World | undefined;
  const rec: SimRecorder = {
    setTime() {},
    count(name, n = 1) {
      if (name === 'signin.shed' || name === 'signin.rejected') shed += n;
    },
    observe(name, value) {
      const now = world!.clock.now() - SIM_EPOCH_MS;
      if (name === 'push.latency' && now >= pushFrom + 1_000 && now < stormAt)
        latency.recordValue(msToUs(value));
      else if (name === 'reconnect.recovery' && now >= stormAt) maxRecovery = Math.max(maxRecovery, value);
    },
    gauge() {},
    event() {},
  };
  world = new World(spec, rec);
  const w = world;
  // The drop: every connection of the node reset at once, as `taco load storm` cuts them.
  w.clock.setTimeout(() => w.clients.resetNode(0), stormAt);
  await w.run();
  return { push: summarize(latency), allBackSec: maxRecovery / 1000, shed };
}

/** The live run: sign-in, pushes (with pings probing the link meanwhile), the drop. */
export async function live(o: AgreementOptions, p: Progress) {
  const f = fleetSettings(o, o.clients);
  const { fleet, phase } = await connectFleet(o.target, f, p);
  try {
    await sleep(2_000);
    fleet.rtt.reset();
    // Pings through the node while it carries the pushes (after the warm-up), one per 10 ms per process.
    const probe = setTimeout(() => fleet.rttProbe(Math.floor(o.pushMs / 10), o.pushMs - 500), 2_500);
    const pushed = await pushPhase(
      fleet,
      {
        target: o.target,
        fleet: { devicePrefix: f.devicePrefix, clients: o.clients },
        api: 'http',
        ratePerSec: o.pushRate,
        durationMs: o.pushMs,
        connections: Math.max(32, Math.ceil(o.pushRate / 20)),
        grpcThreads: 1,
        kind: 'passthrough',
        drainMs: 5_000,
        warmupMs: 2_000,
        serverStatsEveryMs: 0,
      },
      p,
    );
    clearTimeout(probe);
    const link = summarize(fleet.rtt);
    // The node's sign-in throughput once warm: a third of the sessions dropped and back.
    const partial = await stormPhase(
      fleet,
      { target: o.target, settleMs: 2_000, recoveryTimeoutMs: 600_000, fraction: 1 / 3 },
      p,
    );
    const storm = await stormPhase(
      fleet,
      { target: o.target, settleMs: 3_000, recoveryTimeoutMs: 600_000 },
      p,
    );
    return {
      firstSignInsPerSec: phase.signInsPerSec,
      signInsPerSec: partial.recovery.count / partial.allBackSec,
      partialStorm: { dropped: partial.recovery.count, allBackSec: partial.allBackSec },
      link,
      push: pushed.latency,
      storm: { allBackSec: storm.allBackSec, rejected: storm.rejected, attempts: storm.attempts },
    };
  } finally {
    await fleet.close();
  }
}

function pair(liveV: number, simV: number, tol: number): Pair {
  const error = liveV > 0 ? Math.abs(simV - liveV) / liveV : Number.POSITIVE_INFINITY;
  return { live: liveV, sim: simV, error: Math.round(error * 1000) / 1000, ok: error <= tol };
}

export async function runAgreement(o: AgreementOptions, p: Progress): Promise<AgreementResult> {
  const calibration = o.calibration ?? loadCalibration();
  p.line(`agreement: live run with ${o.clients} clients`);
  const liveRun = await live(o, p);
  const link = fitLink(liveRun.link.p50 ?? 0.5, liveRun.link.p99 ?? 1);
  const inputs = { signInUs: 1e6 / liveRun.signInsPerSec, ...link, calibration };
  p.line(`agreement: simulating ${o.clients} clients`);
  const simRun = await simulate(o, inputs);
  p.done();
  const pushP99Ms = pair(liveRun.push.p99 ?? 0, simRun.push.p99 ?? 0, o.tolerance);
  const stormRecoverySec = pair(liveRun.storm.allBackSec, simRun.allBackSec, o.tolerance);
  return {
    kind: 'agreement',
    clients: o.clients,
    pushRate: o.pushRate,
    inputs: {
      ...inputs,
      signInsPerSec: liveRun.signInsPerSec,
      firstSignInsPerSec: liveRun.firstSignInsPerSec,
      partialStorm: liveRun.partialStorm,
      link: liveRun.link,
    },
    pushP99Ms,
    stormRecoverySec,
    ok: pushP99Ms.ok && stormRecoverySec.ok,
    live: { push: liveRun.push, storm: liveRun.storm },
    sim: { push: simRun.push, storm: { allBackSec: simRun.allBackSec, shed: simRun.shed } },
  };
}

export function formatAgreement(r: AgreementResult): string {
  const pct = (x: Pair) => `${(x.error * 100).toFixed(1)}% ${x.ok ? 'ok' : 'TOO FAR'}`;
  return table(`simulator vs live, ${r.clients} clients, ${r.pushRate} pushes/s`, [
    [
      'inputs',
      `sign-in ${Math.round(r.inputs.signInUs)} µs (${Math.round(r.inputs.signInsPerSec)}/s: ` +
        `${r.inputs.partialStorm.dropped} dropped, back in ${r.inputs.partialStorm.allBackSec.toFixed(2)} s; ` +
        `first sign-in ${Math.round(r.inputs.firstSignInsPerSec)}/s), ` +
        `link rtt ${r.inputs.rttMs.toFixed(3)} ms + jitter ${r.inputs.jitterMs.toFixed(3)} ms ` +
        `(pings under the push load: p50 ${fmtMs(r.inputs.link.p50)}, p99 ${fmtMs(r.inputs.link.p99)})`,
    ],
    ['push p99', `live ${fmtMs(r.pushP99Ms.live)}, sim ${fmtMs(r.pushP99Ms.sim)}: ${pct(r.pushP99Ms)}`],
    [
      'storm recovery',
      `live ${r.stormRecoverySec.live.toFixed(2)} s, sim ${r.stormRecoverySec.sim.toFixed(2)} s: ${pct(r.stormRecoverySec)}`,
    ],
    [
      'live storm',
      `${r.live.storm.attempts} attempts, ${r.live.storm.rejected} turned away by admission control`,
    ],
    ['sim storm', `${r.sim.storm.shed} sign-ins shed`],
  ]);
}
