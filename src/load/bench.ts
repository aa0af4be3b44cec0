/**
 * `npm run bench`: the bare-ws reference (bench/reference-server.mjs) and
 * taco, measured in one run with the same load clients, printed as
 * taco/reference ratios against the targets of issue 7:
 *
 * | figure                                   | reference                  | taco                                       | target            |
 * |------------------------------------------|----------------------------|--------------------------------------------|-------------------|
 * | memory per idle signed-in session        | RSS delta / sessions       | same, `taco serve`                         | ≤ 1.5×            |
 * | sign-ins per second                      | N clients, unpaced         | same, `taco serve`, admission control off  | ≥ 0.7×            |
 * | pushes + ACK per second at saturation    | server keeps W unACKed     | dispatcher in process keeps W unACKed      | ≥ 0.6×            |
 * | p50 / p99 latency at 5,000 pushes/s      | server timer → client      | HTTP API (autocannon) → client             | p99 ≤ 50 ms       |
 *
 * Every server is a fresh child process; client processes are the same
 * ClientFleet `taco load` uses (the real SDK). Nothing here is part of
 * `npm test`: a full run takes a few minutes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TacoError } from '../core/errors.js';
import { SERVE_NODE_FLAGS } from '../server/node-flags.js';
import { monoMs, sleep } from './clock.js';
import { ClientFleet } from './fleet.js';
import { type LatencySummary, summarize } from './hist.js';
import type { Progress } from './progress.js';
import { pushPhase } from './push.js';
import {
  procCpuSeconds,
  REPO_ROOT,
  type ServerProcess,
  startServerProcess,
  startTacoServe,
} from './server-process.js';

const REFERENCE = join(REPO_ROOT, 'bench', 'reference-server.mjs');
const here = fileURLToPath(import.meta.url);
const INPROC = join(
  REPO_ROOT,
  here.endsWith('.ts') ? 'src' : 'dist',
  'load',
  `inproc-server${here.endsWith('.ts') ? '.ts' : '.js'}`,
);
const APP = { id: 'bench', secret: 'bench-secret-0123456789' };

export interface BenchOptions {
  /** Idle sessions for the memory figure. */
  idleClients: number;
  /** Clients signing in for the sign-in rate. */
  signInClients: number;
  /** Connected clients during the push figures. */
  pushClients: number;
  /** Unacked pushes kept in flight at saturation. */
  window: number;
  saturateMs: number;
  latencyRate: number;
  latencyMs: number;
  /** Client sockets per load process. */
  perProcess: number;
  /** Attempts in progress per load process while signing in. */
  maxConnecting: number;
  /** Write a V8 CPU profile of every server process here (DIR/reference, DIR/taco). */
  profileDir?: string | undefined;
  /** Write taco's sampled allocations over the saturation window here (DIR/taco-saturate.heapprofile). */
  allocProfileDir?: string | undefined;
  /** Which figures to run (default all). */
  only?: ('memory' | 'signin' | 'saturate' | 'latency')[] | undefined;
  /**
   * Scheduling priority (nice) for the server under test, reference and taco alike; null leaves it at
   * this process's. The load tools share the 2 cores with the server here, where in production they
   * are other machines: without this, a server that needs 0.8 of a core waits behind them for its
   * turns and the latency figure measures the scheduler.
   */
  serverNice?: number | null;
  /** The reference runs with `taco serve`'s node flags too (SERVE_NODE_FLAGS); default: node's defaults. */
  referenceNodeFlags?: boolean;
}

export const defaultBenchOptions: BenchOptions = {
  idleClients: 15_000,
  signInClients: 10_000,
  pushClients: 1_000,
  window: 1_000,
  saturateMs: 10_000,
  latencyRate: 5_000,
  latencyMs: 20_000,
  perProcess: 8_000,
  maxConnecting: 500,
  serverNice: -10,
};

/** What became of `serverNice` for the servers of the run: applied, or why not. */
let serverPriority = 'unchanged';

function favourServer(pid: number, nice: number | null | undefined): void {
  if (nice === null || nice === undefined) return;
  try {
    setPriority(pid, nice);
    serverPriority = `nice ${getPriority(pid)} (the load tools at ${getPriority()})`;
  } catch (e) {
    // Raising a priority needs CAP_SYS_NICE; without it the figures are taken as the scheduler gives.
    serverPriority = `unchanged: setpriority(${nice}) failed (${(e as NodeJS.ErrnoException).code ?? e})`;
  }
}

export interface SystemFigures {
  sessionBytes: number | null;
  signInsPerSec: number | null;
  pushAcksPerSec: number | null;
  cpuUsPerPush: number | null;
  latency: LatencySummary | null;
  latencyDetail?: Record<string, unknown>;
  /** CPU during the saturation window and the latency run, in cores. */
  saturateCpu?: CpuShares;
  latencyCpu?: CpuShares;
  /** Taco's main-thread GC over the saturation window (the reference does not report it). */
  saturateGc?: { pauses: number; share: number; heapUsedMiB: number };
}

export interface BenchResult {
  at: string;
  machine: {
    cores: number;
    model: string;
    node: string;
    loadBefore: number[];
    loadAfter: number[];
    /** The servers' scheduling priority during the run (see BenchOptions.serverNice). */
    serverPriority: string;
  };
  options: BenchOptions;
  reference: SystemFigures;
  taco: SystemFigures;
  rows: BenchRow[];
}

export interface BenchRow {
  figure: string;
  reference: string;
  taco: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

type Sys = 'reference' | 'taco';

function tacoConfigFile(): string {
  const dir = join(tmpdir(), `taco-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'taco.yaml');
  // Admission control off: the bench measures how fast the node can sign clients in, not the configured cap.
  writeFileSync(file, 'core:\n  gateway:\n    signInsPerSec: 0\n');
  return file;
}

async function startSystem(
  sys: Sys,
  o: BenchOptions,
  inproc = false,
): Promise<{
  server: ServerProcess<{ event: string; ws: number; http?: number }>;
  ws: string;
  http?: string;
}> {
  const execArgv = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.profileDir, sys)}`] : [];
  if (sys === 'reference') {
    const server = await startServerProcess<{ event: string; ws: number }>('bare-ws reference', {
      module: REFERENCE,
      args: [],
      ipc: true,
      execArgv: o.referenceNodeFlags ? [...SERVE_NODE_FLAGS, ...execArgv] : execArgv,
    });
    favourServer(server.pid, o.serverNice);
    return { server, ws: `ws://127.0.0.1:${server.ready.ws}/v1/connect` };
  }
  if (inproc) {
    const cfg = { apps: [APP], ports: { ws: 0, http: 0, grpc: 0 }, core: { gateway: { signInsPerSec: 0 } } };
    const server = await startServerProcess<{ event: string; ws: number; http: number }>(
      'taco (dispatcher driven in process)',
      {
        module: INPROC,
        args: [JSON.stringify(cfg)],
        ipc: true,
        // It stands in for `taco serve`'s process: the node flags serve runs with (node-flags.ts).
        execArgv: [
          ...process.execArgv.filter((a) => !/^--(inspect|cpu-prof)/.test(a)),
          ...SERVE_NODE_FLAGS,
          ...execArgv,
        ],
      },
    );
    favourServer(server.pid, o.serverNice);
    return {
      server,
      ws: `ws://127.0.0.1:${server.ready.ws}/v1/connect`,
      http: `http://127.0.0.1:${server.ready.http}`,
    };
  }
  const server = await startTacoServe(['--config', tacoConfigFile(), '--app', `${APP.id}=${APP.secret}`], {
    execArgv,
  });
  favourServer(server.pid, o.serverNice);
  return {
    server,
    ws: `ws://127.0.0.1:${server.ready.ws}/v1/connect`,
    http: `http://127.0.0.1:${server.ready.http}`,
  };
}

/** CPU used over a window, as a share of one core: the server, this process (the HTTP load driver) and the clients. */
export interface CpuShares {
  server: number;
  driver: number;
  clients: number;
  /** Every process on the machine (from /proc/stat), in cores: the machine's other work included. */
  machine: number;
}

function machineCpuSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
}

function cpuMeter(server: ServerProcess<unknown>, fleet: ClientFleet): () => CpuShares {
  const t0 = monoMs();
  const pids = fleet.pids;
  const clientsCpu = () => pids.reduce((a, pid) => a + safeCpu(pid), 0);
  const s0 = server.cpuSeconds();
  const d0 = process.cpuUsage();
  const c0 = clientsCpu();
  const m0 = machineCpuSeconds();
  return () => {
    const secs = (monoMs() - t0) / 1000;
    const d = process.cpuUsage(d0);
    const r = (x: number) => Math.round((x / secs) * 100) / 100;
    return {
      server: r(server.cpuSeconds() - s0),
      driver: r((d.user + d.system) / 1e6),
      clients: r(clientsCpu() - c0),
      machine: r(machineCpuSeconds() - m0),
    };
  };
}

function safeCpu(pid: number): number {
  try {
    return procCpuSeconds(pid);
  } catch {
    return 0;
  }
}

function fleetFor(ws: string, clients: number, o: BenchOptions, prefix: string) {
  return ClientFleet.start({
    wsUrl: ws,
    app: APP.id,
    secret: APP.secret,
    clients,
    perProcess: o.perProcess,
    perAddress: 1000,
    devicePrefix: prefix,
    connectRatePerSec: 0,
    maxConnectingPerProcess: o.maxConnecting,
    // Light clients: the load tool's own cost must not decide the figures.
    light: true,
  });
}

async function signInAll(fleet: ClientFleet, n: number): Promise<number> {
  const t0 = Date.now();
  fleet.connect();
  const s = await fleet.waitFor((s) => s.allOpenAt > 0, 300_000, `signing in ${n} clients`);
  void s;
  return n / ((Date.now() - t0) / 1000);
}

function ask<T>(server: ServerProcess<unknown>, msg: Record<string, unknown>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new TacoError('INTERNAL', `no answer to ${String(msg.type)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    server.child.once('message', (m: T) => {
      clearTimeout(t);
      resolve(m);
    });
    server.child.send!(msg);
  });
}

async function memoryAndSignIns(sys: Sys, o: BenchOptions, p: Progress, f: SystemFigures): Promise<void> {
  const wantMem = !o.only || o.only.includes('memory');
  const wantSignIn = !o.only || o.only.includes('signin');
  if (!wantMem && !wantSignIn) return;
  const n = Math.max(wantMem ? o.idleClients : 0, wantSignIn ? o.signInClients : 0);
  const { server, ws } = await startSystem(sys, o);
  try {
    await sleep(1_500);
    const rss0 = server.rssBytes();
    p.line(`${sys}: signing in ${n} clients`);
    const fleet = await fleetFor(ws, n, o, `b${sys[0]}m-`);
    try {
      const rate = await signInAll(fleet, n);
      if (wantSignIn) f.signInsPerSec = rate;
      p.line(`${sys}: ${Math.round(rate)} sign-ins/s; idle for 5 s`);
      await sleep(5_000);
      if (wantMem) f.sessionBytes = (server.rssBytes() - rss0) / n;
    } finally {
      await fleet.close();
    }
  } finally {
    await server.stop();
  }
}

async function saturate(sys: Sys, o: BenchOptions, p: Progress, f: SystemFigures): Promise<void> {
  if (o.only && !o.only.includes('saturate')) return;
  const { server, ws } = await startSystem(sys, o, true);
  try {
    const prefix = `b${sys[0]}s-`;
    const fleet = await fleetFor(ws, o.pushClients, o, prefix);
    try {
      await signInAll(fleet, o.pushClients);
      p.line(`${sys}: saturating with ${o.window} unACKed pushes for ${o.saturateMs / 1000} s`);
      const cpu = cpuMeter(server, fleet);
      const r = await ask<{
        acksPerSec: number;
        cpuUsPerAck: number;
        gcPauses?: number;
        gcShare?: number;
        heapUsedMiB?: number;
      }>(
        server,
        {
          type: 'saturate',
          app: APP.id,
          devicePrefix: prefix,
          clients: o.pushClients,
          window: o.window,
          durationMs: o.saturateMs,
          warmupMs: 2_000,
          allocProfile:
            sys === 'taco' && o.allocProfileDir
              ? join(o.allocProfileDir, 'taco-saturate.heapprofile')
              : undefined,
        },
        o.saturateMs + 60_000,
      );
      f.saturateCpu = cpu();
      f.pushAcksPerSec = r.acksPerSec;
      f.cpuUsPerPush = r.cpuUsPerAck;
      if (r.gcPauses !== undefined && r.gcShare !== undefined && r.heapUsedMiB !== undefined) {
        f.saturateGc = { pauses: r.gcPauses, share: r.gcShare, heapUsedMiB: r.heapUsedMiB };
        p.line(
          `${sys}: main-thread GC ${r.gcPauses} pauses, ${(r.gcShare * 100).toFixed(1)}% of the window; heap ${Math.round(r.heapUsedMiB)} MiB at the end`,
        );
      }
    } finally {
      await fleet.close();
    }
  } finally {
    await server.stop();
  }
}

async function latency(sys: Sys, o: BenchOptions, p: Progress, f: SystemFigures): Promise<void> {
  if (o.only && !o.only.includes('latency')) return;
  const { server, ws, http } = await startSystem(sys, o);
  try {
    const prefix = `b${sys[0]}l-`;
    const fleet = await fleetFor(ws, o.pushClients, o, prefix);
    try {
      await signInAll(fleet, o.pushClients);
      p.line(`${sys}: ${o.latencyRate} pushes/s for ${o.latencyMs / 1000} s`);
      if (sys === 'reference') {
        await ask(server, { type: 'rate', perSec: o.latencyRate, durationMs: 2_000 }, 60_000); // warm-up
        await sleep(500);
        await fleet.resetLatency();
        const cpu = cpuMeter(server, fleet);
        await ask(
          server,
          { type: 'rate', perSec: o.latencyRate, durationMs: o.latencyMs },
          o.latencyMs + 60_000,
        );
        f.latencyCpu = cpu();
        await sleep(1_000);
        f.latency = summarize(fleet.e2e);
      } else {
        const cpu = cpuMeter(server, fleet);
        const r = await pushPhase(
          fleet,
          {
            target: {
              wsUrl: ws,
              httpUrl: http!,
              grpcAddress: '127.0.0.1:1',
              app: APP.id,
              secret: APP.secret,
            },
            fleet: { devicePrefix: prefix, clients: o.pushClients },
            api: 'http',
            ratePerSec: o.latencyRate,
            durationMs: o.latencyMs,
            connections: Math.max(32, Math.ceil(o.latencyRate / 20)),
            grpcThreads: 1,
            kind: 'passthrough',
            drainMs: 10_000,
            warmupMs: 2_000,
            serverStatsEveryMs: 0,
          },
          { line: (t) => p.line(`taco: ${t}`), done: () => {} },
        );
        f.latencyCpu = cpu();
        f.latency = r.latency;
        f.latencyDetail = {
          accepted: r.counts.accepted,
          delivered: r.delivered,
          acked: r.acked,
          dropped: r.counts.dropped,
          perSecond: r.perSecond,
        };
      }
    } finally {
      await fleet.close();
    }
  } finally {
    await server.stop();
  }
}

const kib = (b: number | null) => (b === null ? '–' : `${(b / 1024).toFixed(2)} KiB`);
const perSec = (x: number | null) => (x === null ? '–' : `${Math.round(x).toLocaleString('en-US')}/s`);
const ms = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${x.toFixed(2)} ms`);
/** taco / reference, exact: the targets are judged on it (0.599 is not 0.6). */
const ratio = (t: number | null | undefined, r: number | null | undefined) =>
  t === null || t === undefined || r === null || r === undefined || r === 0 ? null : t / r;
/** A ratio as the table shows it, to 2 decimals. */
const shown = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
const atMost = (x: number | null, limit: number) => (x === null ? null : x <= limit);
const atLeast = (x: number | null, limit: number) => (x === null ? null : x >= limit);

export function benchRows(ref: SystemFigures, taco: SystemFigures, latencyRate = 5_000): BenchRow[] {
  const at = latencyRate.toLocaleString('en-US');
  const rows: BenchRow[] = [];
  const mem = ratio(taco.sessionBytes, ref.sessionBytes);
  rows.push({
    figure: 'memory per idle signed-in session',
    reference: kib(ref.sessionBytes),
    taco: kib(taco.sessionBytes),
    ratio: shown(mem),
    target: '≤ 1.5×',
    met: atMost(mem, 1.5),
  });
  const si = ratio(taco.signInsPerSec, ref.signInsPerSec);
  rows.push({
    figure: 'sign-ins per second',
    reference: perSec(ref.signInsPerSec),
    taco: perSec(taco.signInsPerSec),
    ratio: shown(si),
    target: '≥ 0.7×',
    met: atLeast(si, 0.7),
  });
  const sat = ratio(taco.pushAcksPerSec, ref.pushAcksPerSec);
  rows.push({
    figure: 'pushes + ACK per second at saturation',
    reference: perSec(ref.pushAcksPerSec),
    taco: perSec(taco.pushAcksPerSec),
    ratio: shown(sat),
    target: '≥ 0.6×',
    met: atLeast(sat, 0.6),
  });
  rows.push({
    figure: 'server CPU per push + ACK at saturation',
    reference: ref.cpuUsPerPush === null ? '–' : `${ref.cpuUsPerPush.toFixed(1)} µs`,
    taco: taco.cpuUsPerPush === null ? '–' : `${taco.cpuUsPerPush.toFixed(1)} µs`,
    ratio: shown(ratio(taco.cpuUsPerPush, ref.cpuUsPerPush)),
    target: '',
    met: null,
  });
  // The reference figure is "at one saturated core": the rate per server core (10⁶ / CPU per
  // push) does not depend on how much of the shared machine each server happened to get.
  const perCore = (us: number | null) => (us === null || us <= 0 ? null : 1e6 / us);
  const core = ratio(perCore(taco.cpuUsPerPush), perCore(ref.cpuUsPerPush));
  rows.push({
    figure: 'pushes + ACK per second per server core',
    reference: perSec(perCore(ref.cpuUsPerPush)),
    taco: perSec(perCore(taco.cpuUsPerPush)),
    ratio: shown(core),
    target: '≥ 0.6×',
    met: atLeast(core, 0.6),
  });
  const shares = (c: CpuShares | undefined) =>
    c ? `${c.server} / ${c.clients} / ${c.driver} / ${c.machine}` : '–';
  rows.push({
    figure: 'cores at saturation: server / clients / driver / machine',
    reference: shares(ref.saturateCpu),
    taco: shares(taco.saturateCpu),
    ratio: null,
    target: '',
    met: null,
  });
  const p50 = ratio(taco.latency?.p50, ref.latency?.p50);
  rows.push({
    figure: `p50 latency at ${at} pushes/s`,
    reference: ms(ref.latency?.p50),
    taco: ms(taco.latency?.p50),
    ratio: shown(p50),
    target: '',
    met: null,
  });
  const p99 = ratio(taco.latency?.p99, ref.latency?.p99);
  rows.push({
    figure: `p99 latency at ${at} pushes/s`,
    reference: ms(ref.latency?.p99),
    taco: ms(taco.latency?.p99),
    ratio: shown(p99),
    target: 'taco ≤ 50 ms',
    met: taco.latency?.p99 == null ? null : taco.latency.p99 <= 50,
  });
  rows.push({
    figure: `cores at ${at}/s: server / clients / driver / machine`,
    reference: shares(ref.latencyCpu),
    taco: shares(taco.latencyCpu),
    ratio: null,
    target: '',
    met: null,
  });
  return rows;
}

export function formatBench(r: BenchResult): string {
  const head = ['figure', 'bare ws', 'taco', 'taco/ref', 'target', 'met'];
  const lines = r.rows.map((x) => [
    x.figure,
    x.reference,
    x.taco,
    x.ratio === null ? '–' : `${x.ratio}×`,
    x.target,
    x.met === null ? '' : x.met ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [
    row(head),
    `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`,
    ...lines.map(row),
    '',
    `${r.machine.cores} cores (${r.machine.model}), Node ${r.machine.node}; load average before ${r.machine.loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${r.machine.loadAfter.map((x) => x.toFixed(2)).join(' ')}; servers at ${r.machine.serverPriority}; taco with ${SERVE_NODE_FLAGS.join(' ')}, the reference with ${r.options.referenceNodeFlags ? 'the same' : "node's defaults"}`,
  ].join('\n');
}

export async function runBench(o: BenchOptions, p: Progress): Promise<BenchResult> {
  const loadBefore = loadavg();
  const reference: SystemFigures = {
    sessionBytes: null,
    signInsPerSec: null,
    pushAcksPerSec: null,
    cpuUsPerPush: null,
    latency: null,
  };
  const taco: SystemFigures = { ...reference };
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  if (o.allocProfileDir) mkdirSync(o.allocProfileDir, { recursive: true });
  // Interleaved, so slow drifts of the machine's other load hit both systems alike.
  await memoryAndSignIns('reference', o, p, reference);
  await memoryAndSignIns('taco', o, p, taco);
  await saturate('reference', o, p, reference);
  await saturate('taco', o, p, taco);
  await latency('reference', o, p, reference);
  await latency('taco', o, p, taco);
  p.done();
  const c = cpus();
  return {
    at: new Date().toISOString(),
    machine: {
      cores: c.length,
      model: c[0]?.model ?? '?',
      node: process.version,
      loadBefore,
      loadAfter: loadavg(),
      serverPriority,
    },
    options: o,
    reference,
    taco,
    rows: benchRows(reference, taco, o.latencyRate),
  };
}
