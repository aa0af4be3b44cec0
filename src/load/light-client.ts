/**
 * A light load client: one `ws` socket speaking client protocol v1 with the
 * SDK's own reconnect policy (ReconnectPolicy, closeCodeAction and
 * retry-after from src/client/policy.ts) but none of the SDK's per-client
 * machinery (emitter, outbox, dedup window, timers per client). It signs in,
 * ACKs every push and pings when its owner's heartbeat sweep says so. Used
 * where the load tool itself must cost little: sign-in rates measured at the
 * server, and 100k sessions on one machine.
 */
import type { WebSocket } from 'ws';
import { closeCodeAction, parseRetryAfterMs, ReconnectPolicy } from '../client/policy.js';
import type { PushFrame } from '../core/protocol.js';

export interface LoadClientEvents {
  state(s: 'connecting' | 'open' | 'closed'): void;
  error(code: string): void;
  push(f: PushFrame): void;
}

export interface LoadClient {
  connect(): void;
  close(): void;
}

type WsCtor = new (url: string, protocols?: string | string[]) => WebSocket;

const CONNECT_TIMEOUT_MS = 15_000;

export class LightClient implements LoadClient {
  private ws: WebSocket | undefined;
  private readonly policy = new ReconnectPolicy();
  private timer: NodeJS.Timeout | undefined;
  private phase: 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped' = 'idle';
  private retryAfterMs = 0;
  private heartbeatMs = 60_000;
  /** monoMs-free: Date.now() at which the next ping is due (the owner's sweep reads it). */
  nextPingAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly url: string,
    private readonly hello: string,
    private readonly Ws: WsCtor,
    private readonly on: LoadClientEvents,
    private readonly heartbeatOverrideSec?: number,
  ) {}

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  connect(): void {
    if (this.phase === 'idle') this.attempt();
  }

  private attempt(): void {
    this.phase = 'connecting';
    this.retryAfterMs = 0;
    this.on.state('connecting');
    const ws = new this.Ws(this.url, 'taco.v1');
    this.ws = ws;
    this.timer = setTimeout(() => ws.terminate(), CONNECT_TIMEOUT_MS);
    ws.on('open', () => ws.send(this.hello));
    ws.on('message', (data) => {
      if (this.ws === ws) this.onFrame(ws, String(data));
    });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      if (this.ws === ws) this.onClose(code, String(reason));
    });
  }

  private onFrame(ws: WebSocket, text: string): void {
    let f: { op?: string; [k: string]: unknown };
    try {
      f = JSON.parse(text) as typeof f;
    } catch {
      return;
    }
    switch (f.op) {
      case 'welcome': {
        if (this.phase !== 'connecting') return;
        clearTimeout(this.timer);
        this.policy.update(f.reconnect as never);
        this.policy.reset();
        this.phase = 'open';
        this.heartbeatMs = (this.heartbeatOverrideSec ?? Number(f.heartbeat ?? 60)) * 1000;
        // Spread the first pings over one period, as clients that signed in at different times would.
        this.nextPingAt = Date.now() + Math.random() * this.heartbeatMs;
        this.on.state('open');
        return;
      }
      case 'push':
        ws.send(`{"op":"ack","id":${JSON.stringify(f.id)},"status":"received"}`);
        this.on.push(f as unknown as PushFrame);
        return;
      case 'error':
        if (typeof f.retryAfterMs === 'number') this.retryAfterMs = f.retryAfterMs;
        this.on.error(String(f.code));
        return;
      default:
        return;
    }
  }

  /** Called by the owner's heartbeat sweep. */
  ping(now: number): void {
    if (this.phase !== 'open' || !this.ws) return;
    this.ws.send('{"op":"ping"}');
    this.nextPingAt = now + this.heartbeatMs;
  }

  private onClose(code: number, reason: string): void {
    clearTimeout(this.timer);
    this.ws = undefined;
    this.nextPingAt = Number.POSITIVE_INFINITY;
    if (this.phase === 'stopped') return;
    this.on.state('closed');
    const action = closeCodeAction(code, reason);
    if (action === 'stop') {
      this.phase = 'stopped';
      return;
    }
    if (action === 'reconnect-after') this.policy.retryAfter(parseRetryAfterMs(reason) ?? 0);
    if (this.retryAfterMs) this.policy.retryAfter(this.retryAfterMs);
    this.phase = 'waiting';
    this.timer = setTimeout(() => this.attempt(), this.policy.nextDelayMs(Math.random));
  }

  close(): void {
    this.phase = 'stopped';
    clearTimeout(this.timer);
    this.ws?.terminate();
    this.ws = undefined;
  }
}
