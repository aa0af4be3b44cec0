/**
 * A hand-driven gateway for SDK tests: a real `ws` WebSocketServer on
 * 127.0.0.1, port 0, that records the frames each connection sends and lets
 * the test answer (or not) frame by frame. It answers pings unless told not to.
 */
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type ClientError,
  type ConfigUpdate,
  type StateChange,
  TacoClient,
  type TacoClientOptions,
  type Via,
} from '../../src/client/client.js';
import type { Timers } from '../../src/client/platform.js';
import type { ClientFrame, PushFrame, ServerFrame, WelcomeFrame } from '../../src/core/protocol.js';

type Waiter = {
  op: string;
  resolve: (f: ClientFrame) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
};

export class FakeConn {
  readonly frames: ClientFrame[] = [];
  /** Index of the next unread frame per op (take() reads each frame once). */
  private readonly cursor = new Map<string, number>();
  private readonly waiters: Waiter[] = [];
  autoPong = true;
  closed: Promise<{ code: number; reason: string }>;

  constructor(
    readonly ws: WebSocket,
    readonly protocol: string,
  ) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as ClientFrame;
      this.frames.push(f);
      if (f.op === 'ping' && this.autoPong) this.send({ op: 'pong', ts: 1 });
      for (const w of [...this.waiters]) {
        if (this.peek(w.op) !== undefined) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(this.read(w.op)!);
        }
      }
    });
  }

  /** Frames of one op received so far. */
  all<T extends ClientFrame['op']>(op: T): Extract<ClientFrame, { op: T }>[] {
    return this.frames.filter((f) => f.op === op) as Extract<ClientFrame, { op: T }>[];
  }

  /** The next unread frame with this op, waiting for it if needed. */
  take<T extends ClientFrame['op']>(op: T, timeoutMs = 3000): Promise<Extract<ClientFrame, { op: T }>> {
    const ready = this.read(op);
    if (ready) return Promise.resolve(ready as Extract<ClientFrame, { op: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no ${op} frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`));
      }, timeoutMs);
      const w: Waiter = { op, resolve: resolve as (f: ClientFrame) => void, reject, timer };
      this.waiters.push(w);
    });
  }

  private peek(op: string): ClientFrame | undefined {
    const from = this.cursor.get(op) ?? 0;
    for (let i = from; i < this.frames.length; i++) if (this.frames[i]!.op === op) return this.frames[i];
    return undefined;
  }

  private read(op: string): ClientFrame | undefined {
    const from = this.cursor.get(op) ?? 0;
    for (let i = from; i < this.frames.length; i++) {
      if (this.frames[i]!.op === op) {
        this.cursor.set(op, i + 1);
        return this.frames[i];
      }
    }
    return undefined;
  }

  send(f: ServerFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(f));
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  welcome(extra: Partial<WelcomeFrame> = {}): void {
    this.send({ op: 'welcome', session: 's1', heartbeat: 60, node: 1, ezone: 'sh', ...extra });
  }

  /** Waits for the hello, then welcomes. */
  async accept(extra: Partial<WelcomeFrame> = {}) {
    const hello = await this.take('hello');
    this.welcome(extra);
    return hello;
  }

  close(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Drops the TCP connection without a close frame (client sees 1006). */
  terminate(): void {
    this.ws.terminate();
  }
}

export class FakeGateway {
  readonly conns: FakeConn[] = [];
  private readonly connWaiters: ((c: FakeConn) => void)[] = [];

  private constructor(readonly wss: WebSocketServer) {
    wss.on('connection', (ws) => {
      const c = new FakeConn(ws, ws.protocol);
      this.conns.push(c);
      for (const w of this.connWaiters.splice(0)) w(c);
    });
  }

  static async start(): Promise<FakeGateway> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/connect' });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    return new FakeGateway(wss);
  }

  get url(): string {
    const addr = this.wss.address();
    if (addr === null || typeof addr === 'string') throw new Error('server is not listening on TCP');
    return `ws://127.0.0.1:${addr.port}/v1/connect`;
  }

  /** The n-th connection (0-based), waiting for it. */
  async conn(n: number, timeoutMs = 3000): Promise<FakeConn> {
    while (this.conns.length <= n) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`connection #${n} did not arrive within ${timeoutMs} ms`)),
          timeoutMs,
        );
        this.connWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.conns[n]!;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/** Global timers that remember which handles are still pending, to prove close() clears them all. */
export class TrackedTimers implements Timers {
  readonly live = new Set<unknown>();
  readonly requestedMs: number[] = [];

  setTimeout(fn: () => void, ms: number): unknown {
    this.requestedMs.push(ms);
    const h: NodeJS.Timeout = setTimeout(() => {
      this.live.delete(h);
      fn();
    }, ms);
    this.live.add(h);
    return h;
  }

  clearTimeout(h: unknown): void {
    this.live.delete(h);
    clearTimeout(h as NodeJS.Timeout);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `pred` holds, polling every 5 ms. */
export async function until(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(5);
  }
}

export interface Recorded {
  states: StateChange[];
  notifications: [PushFrame, Via][];
  messages: [PushFrame, Via][];
  errors: ClientError[];
  configs: ConfigUpdate[];
}

/**
 * A client on `gw` with fast defaults (random 0 → zero reconnect delay with full
 * jitter), tracked timers, and every event recorded. Registers an after-hook
 * that closes the client, checks that no timer is left, and closes the server.
 */
export function makeClient(
  t: { after: (fn: () => Promise<void> | void) => void },
  gw: FakeGateway,
  over: Partial<TacoClientOptions> = {},
) {
  const timers = new TrackedTimers();
  const client = new TacoClient({
    url: gw.url,
    token: 'tok',
    platform: 'android',
    WebSocket,
    random: () => 0,
    timers,
    ...over,
  });
  const ev: Recorded = { states: [], notifications: [], messages: [], errors: [], configs: [] };
  client.on('state', (s) => ev.states.push(s));
  client.on('notification', (p, via) => ev.notifications.push([p, via]));
  client.on('message', (p, via) => ev.messages.push([p, via]));
  client.on('error', (e) => ev.errors.push(e));
  client.on('config', (c) => ev.configs.push(c));
  t.after(async () => {
    client.close();
    assert.equal(timers.live.size, 0, 'close() must clear every timer');
    await gw.close();
  });
  return { client, timers, ev };
}
