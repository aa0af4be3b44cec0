/**
 * `taco load calibrate`: measures what a running taco node spends per
 * session, per sign-in, per frame and per push, from its own /metrics
 * (process CPU seconds and resident memory, summed over workers), while the
 * load fleet drives it phase by phase, and writes them into the simulator's
 * cost model (calibration/sim.json, schema in src/sim/calibration.ts).
 *
 * | figure       | phase                                                        | per           |
 * |--------------|--------------------------------------------------------------|---------------|
 * | sessionBytes | RSS after N idle signed-in sessions minus RSS before         | session       |
 * | signInCpuUs  | server CPU during a reconnect storm of the N clients, less the closes | connect attempt (upgrade, hello, welcome or 4503) |
 * | frameCpuUs   | server CPU while every client sends extra pings              | ping + pong   |
 * | pushCpuUs    | server CPU while pushing through the HTTP API at a fixed rate | push (HTTP request, dispatch, ws frame, ACK) |
 * | closeCpuUs   | server CPU while all N clients go away at once, until it holds no connection | close read and torn down |
 * | helloShare   | 1 − (server CPU per WebSocket upgrade without a hello) / signInCpuUs | share of a sign-in that is the hello |
 *
 * The server's idle CPU (timers, scrapes) is measured first and subtracted.
 * `network.listenBacklog` is what the kernel gives `taco serve`'s listen
 * queue here (its backlog capped by net.core.somaxconn). Only those figures
 * and `source` change; `cores`, the rest of `network` (the simulated mobile
 * network) and `rpc` are kept. What was measured goes into `_measured`,
 * which the simulator ignores.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { TacoError } from '../core/errors.js';
import { LISTEN_BACKLOG } from '../server/server.js';
import { CALIBRATION_FILE, type Calibration, CalibrationSchema } from '../sim/calibration.js';
import { monoMs, sleep } from './clock.js';
import type { ClientFleet } from './fleet.js';
import { type LatencySummary, summarize } from './hist.js';
import { fmtBytes, fmtInt, fmtMs, type Progress, table } from './progress.js';
import { pushPhase } from './push.js';
import { connectFleet, type FleetSettings, serverFigures, type TargetOptions } from './session.js';
import { stormPhase } from './storm.js';

export interface CalibrateOptions {
  target: TargetOptions;
  fleet: FleetSettings;
  pushRatePerSec: number;
  pushDurationMs: number;
  pingsPerClient: number;
  /** Write here (undefined = do not write). */
  output: string | undefined;
}

export interface CalibrationMeasurement {
  at: string;
  host: string;
  serverNodes: number;
  clients: number;
  clientProcesses: number;
  idleCpuUsPerSec: number;
  sessionBytes: number;
  /** CPU per first sign-in of a fresh client (upgrade, hello, welcome), for reference. */
  firstSignInCpuUs: number;
  signInCpuUs: number;
  frameCpuUs: number;
  pushCpuUs: number;
  /** Absent in measurements from before it was measured. */
  closeCpuUs?: number;
  /** Server CPU per WebSocket upgrade that sends no hello (absent before it was measured). */
  upgradeCpuUs?: number;
  /** The hello's share of a storm attempt's CPU (signInCpuUs), 1 − upgradeCpuUs / signInCpuUs (absent before it was measured). */
  helloShare?: number;
  /** net.core.somaxconn-capped listen backlog of `taco serve` here, or null off Linux. */
  listenBacklog?: number | null;
  /** Sign-ins per second the first connect reached (unpaced, admission control in effect). */
  signInsPerSec: number;
  stormAllBackSec: number;
  stormAttempts: number;
  pushes: number;
  pushLatency: LatencySummary;
  /** ping → pong round trips between the load processes and the node at rest. */
  link: LatencySummary;
}

export interface CalibrateResult {
  kind: 'calibrate';
  measured: CalibrationMeasurement;
  calibration: Calibration;
  written: string | null;
}

async function cpuOf(
  httpUrl: string,
): Promise<{ cpuSeconds: number; rssBytes: number; nodes: number; at: number }> {
  const f = await serverFigures(httpUrl);
  if (!f)
    throw new TacoError(
      'BAD_INPUT',
      `${httpUrl}/metrics does not answer: calibrate measures the server through its /metrics`,
    );
  return { cpuSeconds: f.cpuSeconds, rssBytes: f.rssBytes, nodes: f.nodes, at: monoMs() };
}

/** Server CPU µs spent between two samples beyond its idle rate. */
function busyUs(
  a: { cpuSeconds: number; at: number },
  b: { cpuSeconds: number; at: number },
  idleUsPerSec: number,
): number {
  return Math.max(0, (b.cpuSeconds - a.cpuSeconds) * 1e6 - (idleUsPerSec * (b.at - a.at)) / 1000);
}

export async function measure(o: CalibrateOptions, p: Progress): Promise<CalibrationMeasurement> {
  p.line('calibrate: measuring the idle server for 2 s');
  const idle0 = await cpuOf(o.target.httpUrl);
  await sleep(2_000);
  const idle1 = await cpuOf(o.target.httpUrl);
  const idleUsPerSec = ((idle1.cpuSeconds - idle0.cpuSeconds) * 1e6 * 1000) / (idle1.at - idle0.at);
  p.done();

  const before = await cpuOf(o.target.httpUrl);
  const { fleet, phase } = await connectFleet(o.target, o.fleet, p);
  try {
    const afterConnect = await cpuOf(o.target.httpUrl);
    const firstSignInCpuUs = busyUs(before, afterConnect, idleUsPerSec) / o.fleet.clients;
    p.line('calibrate: letting the sessions settle for 3 s');
    await sleep(3_000);
    const settled = await cpuOf(o.target.httpUrl);
    const sessionBytes = (settled.rssBytes - before.rssBytes) / o.fleet.clients;
    p.done();

    p.line('calibrate: ping round trips');
    fleet.rtt.reset();
    fleet.rttProbe(200, 2_000);
    await sleep(2_800);
    const link = summarize(fleet.rtt);
    p.done();

    const frameCpuUs = await measureFrames(fleet, o, idleUsPerSec, p);
    const upgradeCpuUs = await measureUpgrades(o, idleUsPerSec, p);

    p.line(`calibrate: pushing ${fmtInt(o.pushRatePerSec)}/s for ${o.pushDurationMs / 1000} s`);
    const push0 = await cpuOf(o.target.httpUrl);
    const pushed = await pushPhase(
      fleet,
      {
        target: o.target,
        fleet: { devicePrefix: o.fleet.devicePrefix, clients: o.fleet.clients },
        api: 'http',
        ratePerSec: o.pushRatePerSec,
        durationMs: o.pushDurationMs,
        connections: Math.max(10, Math.ceil(o.pushRatePerSec / 50)),
        grpcThreads: 1,
        kind: 'passthrough',
        drainMs: 5_000,
        warmupMs: 0,
        serverStatsEveryMs: 0,
      },
      p,
    );
    const push1 = await cpuOf(o.target.httpUrl);
    const pushCpuUs = busyUs(push0, push1, idleUsPerSec) / Math.max(1, pushed.counts.accepted);

    const storm0 = await cpuOf(o.target.httpUrl);
    const storm = await stormPhase(
      fleet,
      { target: o.target, settleMs: 1_000, recoveryTimeoutMs: 300_000 },
      p,
    );
    const storm1 = await cpuOf(o.target.httpUrl);
    const closeCpuUs = await measureCloses(fleet, o, idleUsPerSec, p);
    // The storm window includes the 1 s settle and the last stats report; idle is subtracted, and
    // the closes of the dropped sessions, which the simulator charges on their own.
    const signInCpuUs =
      Math.max(0, busyUs(storm0, storm1, idleUsPerSec) - storm.recovery.count * closeCpuUs) /
      Math.max(1, storm.attempts);
    // The simulator splits signInCpuUs into the upgrade's visit and the hello's: the upgrade's
    // share is what an upgrade alone costs.
    const helloShare = Math.min(1, Math.max(0, 1 - upgradeCpuUs / Math.max(1e-9, signInCpuUs)));

    return {
      at: new Date().toISOString(),
      host: hostname(),
      serverNodes: before.nodes,
      clients: o.fleet.clients,
      clientProcesses: fleet.processes,
      idleCpuUsPerSec: Math.round(idleUsPerSec),
      sessionBytes: Math.round(sessionBytes),
      firstSignInCpuUs: round1(firstSignInCpuUs),
      signInCpuUs: round1(signInCpuUs),
      frameCpuUs: round1(frameCpuUs),
      pushCpuUs: round1(pushCpuUs),
      closeCpuUs: round1(closeCpuUs),
      upgradeCpuUs: round1(upgradeCpuUs),
      helloShare: Math.round(helloShare * 100) / 100,
      listenBacklog: effectiveListenBacklog(),
      signInsPerSec: Math.round(phase.signInsPerSec),
      stormAllBackSec: round1(storm.allBackSec),
      stormAttempts: storm.attempts,
      pushes: pushed.counts.accepted,
      pushLatency: pushed.latency,
      link,
    };
  } finally {
    await fleet.close();
  }
}

/** Every client goes away at once (the fleet stops); server CPU per connection closed until it holds none. */
async function measureCloses(
  fleet: ClientFleet,
  o: CalibrateOptions,
  idleUsPerSec: number,
  p: Progress,
): Promise<number> {
  p.line('calibrate: every client goes away at once');
  await sleep(1_000);
  const before = await serverFigures(o.target.httpUrl);
  if (!before) throw new TacoError('INTERNAL', 'calibrate: /metrics stopped answering');
  const c0 = await cpuOf(o.target.httpUrl);
  await fleet.close();
  let c1 = c0;
  let left = before.connections;
  for (let i = 0; i < 30 && left > 0; i++) {
    await sleep(1_000);
    const f = await serverFigures(o.target.httpUrl);
    if (!f) break;
    c1 = { cpuSeconds: f.cpuSeconds, rssBytes: f.rssBytes, nodes: f.nodes, at: monoMs() };
    left = f.connections;
  }
  p.done();
  return busyUs(c0, c1, idleUsPerSec) / Math.max(1, before.connections - left);
}

/**
 * Server CPU per WebSocket upgrade alone: this process opens `n` sockets that never send a hello
 * (the simulator charges a sign-in in two visits, the upgrade and the hello: `helloShare`), then
 * drops them before the node's sign-in timeout would. The closes fall after the measurement.
 */
async function measureUpgrades(o: CalibrateOptions, idleUsPerSec: number, p: Progress): Promise<number> {
  const n = Math.max(100, Math.min(2_000, o.fleet.clients));
  p.line(`calibrate: ${fmtInt(n)} WebSocket upgrades without a hello`);
  const sockets: WebSocket[] = [];
  const c0 = await cpuOf(o.target.httpUrl);
  try {
    // At most 200 handshakes in flight, so the kernel's listen queue never overflows.
    let opened = 0;
    for (let i = 0; i < n; i += 200) {
      const batch = Array.from({ length: Math.min(200, n - i) }, () => {
        const ws = new WebSocket(o.target.wsUrl, 'taco.v1');
        sockets.push(ws);
        return new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          ws.once('open', () => {
            opened++;
            clearTimeout(timer);
            resolve();
          });
          ws.once('error', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      });
      await Promise.all(batch);
    }
    if (opened < n * 0.9)
      throw new TacoError('INTERNAL', `calibrate: only ${opened} of ${n} WebSocket upgrades succeeded`);
    await sleep(300);
    const c1 = await cpuOf(o.target.httpUrl);
    p.done();
    return busyUs(c0, c1, idleUsPerSec) / opened;
  } finally {
    for (const ws of sockets) ws.terminate();
    await sleep(500);
  }
}

/** `taco serve`'s listen queue as the kernel applies it (Linux), or null. */
export function effectiveListenBacklog(): number | null {
  try {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isInteger(somaxconn) && somaxconn > 0 ? Math.min(LISTEN_BACKLOG, somaxconn) : null;
  } catch {
    return null;
  }
}

async function measureFrames(
  fleet: ClientFleet,
  o: CalibrateOptions,
  idleUsPerSec: number,
  p: Progress,
): Promise<number> {
  p.line(`calibrate: ${o.pingsPerClient} extra pings per client over 3 s`);
  const sent0 = fleet.snapshot().pingsSent;
  const f0 = await cpuOf(o.target.httpUrl);
  fleet.pings(o.pingsPerClient, 3_000);
  await sleep(3_800);
  const f1 = await cpuOf(o.target.httpUrl);
  const pings = fleet.snapshot().pingsSent - sent0;
  p.done();
  if (pings === 0) throw new TacoError('INTERNAL', 'calibrate: no ping was sent');
  return busyUs(f0, f1, idleUsPerSec) / pings;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The calibration file with the measured gateway costs in place; everything else kept. */
export function applyMeasurement(
  file: string,
  m: CalibrationMeasurement,
): { json: Record<string, unknown>; calibration: Calibration } {
  let current: Record<string, unknown>;
  try {
    current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new TacoError('BAD_INPUT', `${file}: cannot read the calibration file: ${(e as Error).message}`);
  }
  const base = CalibrationSchema.safeParse(current);
  if (!base.success)
    throw new TacoError('BAD_INPUT', `${file}: not a calibration file: ${base.error.issues[0]?.message}`);
  const positive = (x: number, fallback: number) => (Number.isFinite(x) && x > 0 ? x : fallback);
  const g = base.data.gateway;
  const json: Record<string, unknown> = {
    ...current,
    source: `taco load calibrate, ${m.at.slice(0, 10)}, ${m.clients} clients on ${m.serverNodes} node(s), host ${m.host}`,
    gateway: {
      ...(current.gateway as Record<string, unknown>),
      sessionBytes: Math.round(positive(m.sessionBytes, g.sessionBytes)),
      signInCpuUs: positive(m.signInCpuUs, g.signInCpuUs),
      frameCpuUs: positive(m.frameCpuUs, g.frameCpuUs),
      pushCpuUs: positive(m.pushCpuUs, g.pushCpuUs),
      closeCpuUs: positive(m.closeCpuUs ?? Number.NaN, g.closeCpuUs),
      ...(m.helloShare !== undefined && Number.isFinite(m.helloShare) ? { helloShare: m.helloShare } : {}),
    },
    network: {
      ...(current.network as Record<string, unknown>),
      ...(m.listenBacklog ? { listenBacklog: m.listenBacklog } : {}),
    },
    _measured: m,
  };
  return { json, calibration: CalibrationSchema.parse(json) };
}

export async function runCalibrate(
  o: CalibrateOptions & { input?: string },
  p: Progress,
): Promise<CalibrateResult> {
  const file = o.output ?? o.input ?? CALIBRATION_FILE;
  // Fail on a bad file before spending minutes measuring.
  applyMeasurement(file, placeholder());
  const m = await measure(o, p);
  const { json, calibration } = applyMeasurement(file, m);
  if (o.output) {
    const tmp = `${o.output}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(json, null, 2)}\n`);
    renameSync(tmp, o.output);
  }
  return { kind: 'calibrate', measured: m, calibration, written: o.output ?? null };
}

function placeholder(): CalibrationMeasurement {
  const empty: LatencySummary = {
    count: 0,
    p50: null,
    p90: null,
    p99: null,
    p999: null,
    max: null,
    mean: null,
  };
  return {
    at: new Date().toISOString(),
    host: '',
    serverNodes: 1,
    clients: 1,
    clientProcesses: 1,
    idleCpuUsPerSec: 0,
    sessionBytes: 1,
    firstSignInCpuUs: 1,
    signInCpuUs: 1,
    frameCpuUs: 1,
    pushCpuUs: 1,
    closeCpuUs: 1,
    listenBacklog: null,
    signInsPerSec: 1,
    stormAllBackSec: 1,
    stormAttempts: 1,
    pushes: 1,
    pushLatency: empty,
    link: empty,
  };
}

export function formatCalibrate(r: CalibrateResult): string {
  const m = r.measured;
  const g = r.calibration.gateway;
  return table('taco load calibrate', [
    [
      'clients',
      `${fmtInt(m.clients)} from ${m.clientProcesses} process(es) against ${m.serverNodes} node(s)`,
    ],
    ['session', `${fmtBytes(g.sessionBytes)} RSS per idle signed-in session`],
    [
      'sign-in',
      `${g.signInCpuUs} µs CPU per connect attempt in a storm (${m.firstSignInCpuUs} µs for a first sign-in)`,
    ],
    [
      'hello share',
      m.upgradeCpuUs === undefined
        ? `${g.helloShare ?? 0} (kept: not measured)`
        : `${g.helloShare ?? 0} of a sign-in is the hello (${m.upgradeCpuUs} µs CPU per upgrade alone)`,
    ],
    ['frame', `${g.frameCpuUs} µs CPU per ping + pong`],
    ['push', `${g.pushCpuUs} µs CPU per push through the HTTP API, with its ACK`],
    ['close', `${g.closeCpuUs} µs CPU per connection its client closed`],
    ['listen queue', `${r.calibration.network.listenBacklog} connections (backlog capped by somaxconn)`],
    [
      'sign-ins',
      `${fmtInt(m.signInsPerSec)}/s at the first connect; storm of ${fmtInt(m.clients)} back in ${m.stormAllBackSec} s`,
    ],
    [
      'push latency',
      `p50 ${fmtMs(m.pushLatency.p50)}  p99 ${fmtMs(m.pushLatency.p99)} (${fmtInt(m.pushes)} pushes)`,
    ],
    ['link', `ping round trip p50 ${fmtMs(m.link.p50)}  p99 ${fmtMs(m.link.p99)}`],
    ['idle server', `${fmtInt(m.idleCpuUsPerSec)} µs CPU per second`],
    ['written', r.written ?? 'nothing (--dry-run)'],
  ]);
}
