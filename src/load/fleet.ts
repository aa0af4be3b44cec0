/**
 * ClientFleet: N signed-in SDK clients spread over as many processes as the
 * per-process socket bound needs (see addresses.ts), with live aggregate
 * figures. Counters are summed over processes; latency histograms are merged.
 * Every process is a child of this one and exits when it goes away.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsHistogram } from 'hdr-histogram-js';
import { TacoError } from '../core/errors.js';
import { planProcesses } from './addresses.js';
import { monoMs, sleep } from './clock.js';
import { addWire, newHistogram } from './hist.js';
import type { ClientProcessInit, ClientProcessStats, FromClientProcess, ToClientProcess } from './wire.js';

export interface FleetOptions {
  wsUrl: string;
  app: string;
  secret: string;
  clients: number;
  /** Sockets per process at most (≤ 19,000). */
  perProcess: number;
  /** Clients per source address (127.0.0.2, …). */
  perAddress: number;
  devicePrefix: string;
  /** Sign-ins started per second over the whole fleet (0 = unpaced). */
  connectRatePerSec: number;
  /** Attempts in progress per process at most. */
  maxConnectingPerProcess: number;
  heartbeatSec?: number | undefined;
  /** LightClient (bare socket, the SDK's reconnect policy) instead of the SDK. */
  light?: boolean;
  reportMs?: number;
}

/**
 * The fleet's counters: every process's (ClientProcessStats) summed. `allOpenAt` and `stormBackAt`
 * are the last process's (0 until every process is there), `stormAt` the first drop's (Infinity
 * before any).
 */
export interface FleetSnapshot
  extends Omit<ClientProcessStats, 'rssBytes' | 'e2e' | 'accept' | 'recovery' | 'rtt'> {
  processes: number;
  clientRssBytes: number;
}

const here = fileURLToPath(import.meta.url);
const CHILD = join(dirname(here), `client-process${here.endsWith('.ts') ? '.ts' : '.js'}`);

interface Member {
  child: ChildProcess;
  stats: ClientProcessStats | undefined;
  exited: boolean;
}

export class ClientFleet {
  readonly e2e: JsHistogram = newHistogram();
  readonly accept: JsHistogram = newHistogram();
  readonly recovery: JsHistogram = newHistogram();
  readonly rtt: JsHistogram = newHistogram();
  private readonly members: Member[] = [];
  private statsListeners: (() => void)[] = [];
  private fatal: string | undefined;
  private closed = false;

  private constructor(readonly o: FleetOptions) {}

  static async start(o: FleetOptions): Promise<ClientFleet> {
    const fleet = new ClientFleet(o);
    try {
      await fleet.spawn();
    } catch (e) {
      await fleet.close();
      throw e;
    }
    return fleet;
  }

  private async spawn(): Promise<void> {
    const slices = planProcesses(this.o.clients, this.o.perProcess);
    const ready: Promise<void>[] = [];
    for (const s of slices) {
      // No inspector or profiler flags in the children: they would fight over ports and files.
      const execArgv = process.execArgv.filter((a) => !/^--(inspect|cpu-prof|heap-prof)/.test(a));
      const child = fork(CHILD, [], {
        execArgv,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      const m: Member = { child, stats: undefined, exited: false };
      this.members.push(m);
      ready.push(
        new Promise<void>((resolve, reject) => {
          child.on('message', (msg: FromClientProcess) => {
            if (msg.type === 'ready') resolve();
            else if (msg.type === 'stats') this.onStats(m, msg.stats);
            else if (msg.type === 'fatal') {
              this.fatal = msg.message;
              reject(new TacoError('INTERNAL', `load client process failed: ${msg.message}`));
            }
          });
          child.on('exit', (code, signal) => {
            m.exited = true;
            if (!this.closed) {
              this.fatal ??= `load client process ${child.pid} exited (${signal ?? code})`;
              reject(new TacoError('INTERNAL', this.fatal));
            }
          });
          child.on('error', reject);
        }),
      );
      const init: ClientProcessInit = {
        wsUrl: this.o.wsUrl,
        app: this.o.app,
        secret: this.o.secret,
        from: s.from,
        to: s.to,
        devicePrefix: this.o.devicePrefix,
        perAddress: this.o.perAddress,
        connectRatePerSec: this.o.connectRatePerSec / slices.length,
        maxConnecting: this.o.maxConnectingPerProcess,
        heartbeatSec: this.o.heartbeatSec,
        light: this.o.light ?? false,
        reportMs: this.o.reportMs ?? 250,
      };
      this.send(m, { type: 'init', init });
    }
    await Promise.all(ready);
  }

  private send(m: Member, msg: ToClientProcess): void {
    if (!m.exited && m.child.connected) m.child.send(msg);
  }

  private broadcast(msg: ToClientProcess): void {
    for (const m of this.members) this.send(m, msg);
  }

  private onStats(m: Member, s: ClientProcessStats): void {
    m.stats = s;
    addWire(this.e2e, s.e2e);
    addWire(this.accept, s.accept);
    addWire(this.recovery, s.recovery);
    addWire(this.rtt, s.rtt);
    for (const l of this.statsListeners) l();
  }

  get processes(): number {
    return this.members.length;
  }

  /** Process ids of the live client processes (for CPU accounting). */
  get pids(): number[] {
    return this.members.filter((m) => !m.exited && m.child.pid !== undefined).map((m) => m.child.pid!);
  }

  /** Fails with the child's error if a client process died. */
  check(): void {
    if (this.fatal) throw new TacoError('INTERNAL', this.fatal);
  }

  snapshot(): FleetSnapshot {
    const sum = (k: keyof ClientProcessStats) =>
      this.members.reduce((a, m) => a + ((m.stats?.[k] as number | undefined) ?? 0), 0);
    const allOf = (k: 'allOpenAt' | 'stormBackAt') =>
      this.members.every((m) => (m.stats?.[k] ?? 0) > 0)
        ? Math.max(...this.members.map((m) => m.stats![k]))
        : 0;
    return {
      processes: this.members.length,
      clients: this.o.clients,
      open: sum('open'),
      connecting: sum('connecting'),
      signIns: sum('signIns'),
      attempts: sum('attempts'),
      rejected: sum('rejected'),
      errors: sum('errors'),
      closes: sum('closes'),
      pushes: sum('pushes'),
      runPushes: sum('runPushes'),
      pingsSent: sum('pingsSent'),
      allOpenAt: allOf('allOpenAt'),
      stormAt: Math.min(...this.members.map((m) => m.stats?.stormAt || Number.POSITIVE_INFINITY)),
      stormBackAt: allOf('stormBackAt'),
      clientRssBytes: sum('rssBytes'),
    };
  }

  /** Called after each stats report of any process. */
  onUpdate(fn: () => void): () => void {
    this.statsListeners.push(fn);
    return () => {
      this.statsListeners = this.statsListeners.filter((f) => f !== fn);
    };
  }

  connect(): void {
    this.broadcast({ type: 'connect' });
  }

  /** Drops `fraction` (default all) of every process's sessions at once. */
  storm(fraction = 1): void {
    this.broadcast({ type: 'storm', fraction });
  }

  /** Ping round trips, `samples` per process, spread over `spreadMs`; they land in `rtt`. */
  rttProbe(samples: number, spreadMs: number): void {
    this.broadcast({ type: 'rtt', samples, spreadMs });
  }

  pings(perClient: number, spreadMs: number): void {
    this.broadcast({ type: 'pings', perClient, spreadMs });
  }

  /** Forgets latency recorded so far (warm-up), in the processes and here. */
  async resetLatency(): Promise<void> {
    this.broadcast({ type: 'reset-latency' });
    await sleep((this.o.reportMs ?? 250) * 2);
    this.e2e.reset();
    this.accept.reset();
  }

  /** Resolves when `pred` holds on a fresh snapshot; rejects after `timeoutMs` or if a process died. */
  async waitFor(
    pred: (s: FleetSnapshot) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<FleetSnapshot> {
    const end = monoMs() + timeoutMs;
    for (;;) {
      this.check();
      const s = this.snapshot();
      if (pred(s)) return s;
      if (monoMs() > end)
        throw new TacoError(
          'DEADLINE_EXCEEDED',
          `${what}: not reached within ${Math.round(timeoutMs / 1000)} s`,
        );
      await sleep(50);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.broadcast({ type: 'stop' });
    await Promise.all(
      this.members.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.exited) return resolve();
            const t = setTimeout(() => {
              m.child.kill('SIGKILL');
              resolve();
            }, 5_000);
            m.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }
}
