/**
 * One load-client process: holds a slice of signed-in clients, each bound to
 * its 127.0.x.y source address, and reports counters and latency histograms
 * to the coordinator over IPC. Clients are the real SDK (TacoClient: its
 * reconnects, ACKs and dedup) or, with `light`, LightClient (the SDK's
 * reconnect policy on a bare socket, for when the load tool must cost little). Started by ClientFleet with child_process.fork;
 * exits when told to stop or when the coordinator goes away.
 */
import { WebSocket } from 'ws';
import { TacoClient } from '../client/index.js';
import type { WebSocketCtor } from '../client/platform.js';
import type { PushFrame } from '../core/protocol.js';
import { signToken } from '../core/token.js';
import { addressOfClient } from './addresses.js';
import { monoMs } from './clock.js';
import { newHistogram, recordMs, toWire } from './hist.js';
import { LightClient, type LoadClient, type LoadClientEvents } from './light-client.js';
import type { ClientProcessInit, ClientProcessStats, FromClientProcess, ToClientProcess } from './wire.js';

const send = (m: FromClientProcess) => process.send?.(m);

class ClientProcess {
  private readonly clients: LoadClient[] = [];
  private readonly light: LightClient[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly isOpen: Uint8Array;
  private readonly backAfterStorm: Uint8Array;
  private readonly sockets = new Set<WebSocket>();
  /** The current socket of each client (local index). */
  private readonly socketOf: (WebSocket | undefined)[] = [];
  private readonly ctors = new Map<string, WebSocketCtor>();
  private e2e = newHistogram();
  private accept = newHistogram();
  private recovery = newHistogram();
  private rtt = newHistogram();
  private open = 0;
  private connecting = 0;
  private started = 0;
  private signIns = 0;
  private attempts = 0;
  private rejected = 0;
  private errors = 0;
  private closes = 0;
  private pushes = 0;
  private runPushes = 0;
  private pingsSent = 0;
  private allOpenAt = 0;
  private stormAt = 0;
  private stormBackAt = 0;
  private stormPending = 0;
  private pacer: NodeJS.Timeout | undefined;
  private reporter: NodeJS.Timeout;

  constructor(private readonly o: ClientProcessInit) {
    const n = o.to - o.from;
    this.isOpen = new Uint8Array(n);
    this.backAfterStorm = new Uint8Array(n);
    this.reporter = setInterval(() => this.report(), o.reportMs);
  }

  private ctorFor(address: string): WebSocketCtor {
    let C = this.ctors.get(address);
    if (C) return C;
    const sockets = this.sockets;
    C = class BoundWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { localAddress: address, perMessageDeflate: false, handshakeTimeout: 15_000 });
        sockets.add(this);
        this.once('close', () => sockets.delete(this));
      }
    } as unknown as WebSocketCtor;
    this.ctors.set(address, C);
    return C;
  }

  private makeClient(local: number): LoadClient {
    const i = this.o.from + local;
    const token = signToken(
      { app: this.o.app, dev: `${this.o.devicePrefix}${i}`, exp: Math.floor(Date.now() / 1000) + 86_400 },
      this.o.secret,
    );
    const events = this.eventsFor(local);
    const Base = this.ctorFor(addressOfClient(i, this.o.perAddress)) as unknown as new (
      url: string,
      protocols?: string | string[],
    ) => WebSocket;
    const socketOf = this.socketOf;
    // A constructor that remembers which client the socket is for (a partial storm drops some clients only).
    const Ws = function BoundClientSocket(url: string, protocols?: string | string[]) {
      const ws = new Base(url, protocols);
      socketOf[local] = ws;
      return ws;
    } as unknown as WebSocketCtor;
    if (this.o.light) {
      const hello = JSON.stringify({ op: 'hello', token, platform: 'android', appState: 'background' });
      const c = new LightClient(this.o.wsUrl, hello, Ws as never, events, this.o.heartbeatSec);
      this.light.push(c);
      this.heartbeat ??= setInterval(() => {
        const now = Date.now();
        for (const l of this.light) if (l.nextPingAt <= now) l.ping(now);
      }, 1_000);
      return c;
    }
    const c = new TacoClient({
      url: this.o.wsUrl,
      token,
      platform: 'android',
      appState: 'background',
      WebSocket: Ws,
      ...(this.o.heartbeatSec ? { heartbeatSec: this.o.heartbeatSec } : {}),
    });
    c.on('state', (s) => events.state(s.state));
    c.on('error', (e) => events.error(e.code));
    c.on('message', (f) => events.push(f));
    c.on('notification', (f) => events.push(f));
    return c;
  }

  private eventsFor(local: number): LoadClientEvents {
    return {
      state: (state) => {
        if (state === 'connecting') {
          this.attempts++;
          this.connecting++;
          return;
        }
        if (state === 'open') {
          this.connecting--;
          this.signIns++;
          if (!this.isOpen[local]) {
            this.isOpen[local] = 1;
            this.open++;
          }
          if (this.stormAt && !this.backAfterStorm[local]) {
            this.backAfterStorm[local] = 1;
            recordMs(this.recovery, monoMs() - this.stormAt);
            if (--this.stormPending === 0) this.stormBackAt = monoMs();
          }
          if (this.open === this.o.to - this.o.from && !this.allOpenAt) this.allOpenAt = monoMs();
          return;
        }
        // closed: from connecting (the attempt failed) or from open (the connection was lost)
        this.closes++;
        if (this.isOpen[local]) {
          this.isOpen[local] = 0;
          this.open--;
        } else {
          this.connecting--;
        }
      },
      error: (code) => {
        if (code === 'TACO_ERR_OVERLOADED' || code === 'TACO_ERR_DRAINING') this.rejected++;
        else this.errors++;
      },
      push: (f: PushFrame) => {
        this.pushes++;
        const d = f.data as { t?: unknown; m?: unknown } | undefined;
        const t = d?.t;
        if (typeof t === 'number' && d?.m === 1) {
          this.runPushes++;
          recordMs(this.e2e, monoMs() - t);
        }
        recordMs(this.accept, Date.now() - f.ts);
      },
    };
  }

  /** Starts every client, paced by the connect rate and the bound on attempts in progress. */
  connect(): void {
    const total = this.o.to - this.o.from;
    const rate = this.o.connectRatePerSec;
    // The allowance follows the clock, not the number of ticks: a busy machine fires a 10 ms interval
    // every 15–20 ms, and counting ticks paced 100,000 sign-ins at 60% of the asked rate.
    const burst = Math.max(2, rate / 10);
    let allowance = 0;
    let last = monoMs();
    const tick = () => {
      const now = monoMs();
      allowance =
        rate > 0 ? Math.min(allowance + ((now - last) * rate) / 1000, burst) : Number.POSITIVE_INFINITY;
      last = now;
      while (this.started < total && allowance >= 1 && this.connecting < this.o.maxConnecting) {
        const c = this.makeClient(this.started++);
        this.clients.push(c);
        c.connect();
        allowance--;
      }
      if (this.started >= total && this.pacer) {
        clearInterval(this.pacer);
        this.pacer = undefined;
      }
    };
    this.pacer = setInterval(tick, 10);
    allowance = rate > 0 ? 1 : 0;
    tick();
  }

  /**
   * Drops the connections of the first `fraction` of this process's clients at once, like a
   * network failure: the client sees 1006 and reconnects by the SDK's policy.
   */
  storm(fraction: number): void {
    const n = this.clients.length;
    const k = Math.max(1, Math.round(n * Math.min(1, Math.max(0, fraction))));
    this.stormAt = monoMs();
    this.stormBackAt = 0;
    this.stormPending = k;
    this.backAfterStorm.fill(1);
    this.backAfterStorm.fill(0, 0, k);
    for (let local = 0; local < k; local++) this.socketOf[local]?.terminate();
  }

  pings(perClient: number, spreadMs: number): void {
    const text = '{"op":"ping"}';
    const all = [...this.sockets];
    const total = all.length * perClient;
    const steps = Math.max(1, Math.floor(spreadMs / 10));
    const perStep = Math.ceil(total / steps);
    let k = 0;
    const timer = setInterval(() => {
      for (let j = 0; j < perStep && k < total; j++, k++) {
        const ws = all[k % all.length]!;
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(text);
          this.pingsSent++;
        }
      }
      if (k >= total) clearInterval(timer);
    }, 10);
  }

  /** Round trips of `samples` pings (ping → the next frame, a pong) on sockets picked in turn, spread over `spreadMs`. */
  rttProbe(samples: number, spreadMs: number): void {
    const all = [...this.sockets].filter((ws) => ws.readyState === WebSocket.OPEN);
    if (all.length === 0) return;
    const every = Math.max(1, spreadMs / samples);
    let k = 0;
    const timer = setInterval(() => {
      const ws = all[k % all.length]!;
      if (ws.readyState === WebSocket.OPEN) {
        const t = monoMs();
        ws.once('message', () => recordMs(this.rtt, monoMs() - t));
        ws.send('{"op":"ping"}');
      }
      if (++k >= samples) clearInterval(timer);
    }, every);
  }

  resetLatency(): void {
    this.e2e = newHistogram();
    this.accept = newHistogram();
  }

  report(): void {
    const stats: ClientProcessStats = {
      clients: this.o.to - this.o.from,
      open: this.open,
      connecting: this.connecting,
      signIns: this.signIns,
      attempts: this.attempts,
      rejected: this.rejected,
      errors: this.errors,
      closes: this.closes,
      pushes: this.pushes,
      runPushes: this.runPushes,
      pingsSent: this.pingsSent,
      allOpenAt: this.allOpenAt,
      stormAt: this.stormAt,
      stormBackAt: this.stormBackAt,
      rssBytes: process.memoryUsage.rss(),
      e2e: toWire(this.e2e),
      accept: toWire(this.accept),
      recovery: toWire(this.recovery),
      rtt: toWire(this.rtt),
    };
    this.e2e.reset();
    this.accept.reset();
    this.recovery.reset();
    this.rtt.reset();
    send({ type: 'stats', stats });
  }

  stop(): void {
    if (this.pacer) clearInterval(this.pacer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    clearInterval(this.reporter);
    for (const c of this.clients) c.close();
    for (const ws of this.sockets) ws.terminate();
  }
}

let proc: ClientProcess | undefined;

process.on('message', (m: ToClientProcess) => {
  try {
    switch (m.type) {
      case 'init':
        proc = new ClientProcess(m.init);
        send({ type: 'ready' });
        return;
      case 'connect':
        proc?.connect();
        return;
      case 'storm':
        proc?.storm(m.fraction);
        return;
      case 'pings':
        proc?.pings(m.perClient, m.spreadMs);
        return;
      case 'rtt':
        proc?.rttProbe(m.samples, m.spreadMs);
        return;
      case 'reset-latency':
        proc?.resetLatency();
        return;
      case 'stop':
        proc?.report();
        proc?.stop();
        setTimeout(() => process.exit(0), 50);
        return;
    }
  } catch (e) {
    send({ type: 'fatal', message: (e as Error).stack ?? String(e) });
  }
});
// The coordinator is gone: nobody will stop us, so stop now.
process.on('disconnect', () => {
  proc?.stop();
  process.exit(0);
});
