/**
 * TacoClient: the SDK's long connection (SPEC §3). Runs in browsers and in
 * Node (pass `ws`'s WebSocket there); no node: imports.
 *
 * One connection attempt at a time. Each attempt gets a generation number;
 * every socket handler, timer and async continuation checks it, so nothing
 * from an abandoned socket can act on the current one. Every timer has one
 * owner field and is cleared when its connection ends or on close().
 *
 * Lifecycle: connecting (token, socket, hello) → open (welcome) → closed, then
 * either a reconnect after a ReconnectPolicy delay or a stop (4401, 4409, or
 * close()). What a close code means lives in policy.ts, not here.
 */
import type { BackoffPolicy } from '../core/backoff.js';
import {
  type AckStatus,
  type AppState,
  type ClientFrame,
  CloseCodes,
  type ErrorFrame,
  type HelloFrame,
  MAX_FRAME_BYTES,
  PLATFORMS,
  type Platform,
  type PushFrame,
  SUBPROTOCOL,
  type ThirdPartyChannelName,
  utf8Length,
  type WelcomeFrame,
} from '../core/protocol.js';
import { Emitter } from './emitter.js';
import { parseServerFrame } from './frames.js';
import { AckBacklog, UpstreamOutbox } from './outbox.js';
import {
  type CloseEventLike,
  defaultWebSocket,
  discardSocket,
  globalTimers,
  type MessageEventLike,
  type Timers,
  type WebSocketCtor,
  type WebSocketLike,
  WS_OPEN,
} from './platform.js';
import {
  closeCodeAction,
  DedupWindow,
  displayDecision,
  parseRetryAfterMs,
  ReconnectPolicy,
} from './policy.js';

export interface TacoClientOptions {
  /** `ws://HOST:PORT/v1/connect`. */
  url: string;
  /** A JWT, or a function called before every connection attempt (token refresh). */
  token: string | (() => string | Promise<string>);
  platform: Platform;
  /** Default 'foreground'. */
  appState?: AppState;
  /** Default globalThis.WebSocket; in Node 20 pass `ws`'s WebSocket. */
  WebSocket?: WebSocketCtor;
  /** Uniform in [0, 1); default Math.random. Used for jitter and upstream ids. */
  random?: () => number;
  /** Default the global setTimeout/clearTimeout. */
  timers?: Timers;
  /** Ping period; default the welcome's `heartbeat`. */
  heartbeatSec?: number;
  /** No frame this long after a ping → the connection is dead. Default min(10 s, heartbeat/2). */
  pongTimeoutMs?: number;
  /** No welcome this long after an attempt starts (token + socket + hello) → retry. Default 15 s. */
  connectTimeoutMs?: number;
  /** An `up` without `up.ack` is sent again after 1–2 of these periods. Default 10 s. */
  upAckTimeoutMs?: number;
  /** Last config version the app has (persisted by the app); the server sends only newer ones. */
  configVersion?: number;
  /** Reconnect settings until the server's welcome provides its own. */
  reconnect?: Partial<BackoffPolicy>;
  /** Message ids remembered for dedup. Default 1024. */
  dedupWindow?: number;
  /** Unacked upstream messages held at most; send() throws beyond. Default 1000. */
  maxPendingUpstream?: number;
  /** ACKs held while disconnected; the oldest is dropped beyond. Default 1024. */
  maxPendingAcks?: number;
}

export type ClientState = 'connecting' | 'open' | 'closed';
/** How a push reached the app: the long connection or a third-party channel (see ingest()). */
export type Via = 'socket' | ThirdPartyChannelName;

export interface StateChange {
  state: ClientState;
  /** open: the server's session id. */
  session?: string;
  /** closed: close code and reason (4408 also when the SDK itself gave up on a silent connection). */
  code?: number;
  reason?: string;
  /** closed: the next attempt starts in this many ms; absent = stopped for good (until connect()). */
  reconnectInMs?: number;
}

export interface ConfigUpdate {
  version: number;
  data: Record<string, unknown>;
}

export interface UpstreamHandle {
  /** The client id sent as `up.id`. */
  id: string;
  /** true once the server confirmed (`up.ack`), false if the client was closed first. Never rejects. */
  acked: Promise<boolean>;
}

/**
 * `code` is the server's wire code (`TACO_ERR_TOKEN_EXPIRED`…) or one of the
 * SDK's: TACO_ERR_BAD_FRAME (the server sent something invalid),
 * TACO_ERR_TOKEN_PROVIDER, TACO_ERR_BAD_INPUT, TACO_ERR_FRAME_TOO_LARGE,
 * TACO_ERR_OUTBOX_FULL, and for a stop without an error frame
 * TACO_ERR_UNAUTHENTICATED / TACO_ERR_REPLACED.
 * `fatal`: the client stopped and will not reconnect by itself.
 */
export class ClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly fatal = false,
    readonly closeCode?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

export interface ClientEvents {
  state: [StateChange];
  /** A push to show as a system notification (new ids only). Call displayed()/opened() as it happens. */
  notification: [PushFrame, Via];
  /** A push whose data goes straight to the app (new ids only). */
  message: [PushFrame, Via];
  config: [ConfigUpdate];
  error: [ClientError];
}

/** Internal phases; `state` (public) folds idle/waiting/stopped/closed into 'closed'. */
type Phase = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped' | 'closed';

const CHANNELS: readonly ThirdPartyChannelName[] = ['apns', 'fcm', 'vendor'];
/** setTimeout's limit (2^31-1 ms); beyond it Node and browsers fire after ~1 ms. */
const TIMER_MAX_MS = 2_147_483_647;

export class TacoClient extends Emitter<ClientEvents> {
  private readonly opts: TacoClientOptions;
  private readonly Ws: WebSocketCtor;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly policy: ReconnectPolicy;
  private readonly dedup: DedupWindow;
  private readonly outbox: UpstreamOutbox;
  private readonly acks: AckBacklog;
  /** Latest third-party token per channel, sent on every welcome (register is idempotent server-side). */
  private readonly registrations = new Map<ThirdPartyChannelName, string>();
  private readonly upIdPrefix: string;
  private upSeq = 0;
  private phase: Phase = 'idle';
  private gen = 0;
  private ws: WebSocketLike | undefined;
  private session_: string | undefined;
  private appState_: AppState;
  /** appState sent in the current hello, to send a `state` after welcome if it changed meanwhile. */
  private helloAppState: AppState | undefined;
  private configVersion_: number | undefined;
  private lastAck: string | undefined;
  private heartbeatMs = 0;
  /** The error frame received on the current connection, reported with the close that follows. */
  private lastError: ErrorFrame | undefined;
  // Timer owners. Connection timers are cleared in endConnection(); reconnectTimer in close().
  private reconnectTimer: unknown;
  private connectTimer: unknown;
  private pingTimer: unknown;
  private pongTimer: unknown;
  private resendTimer: unknown;

  constructor(opts: TacoClientOptions) {
    super();
    if (!PLATFORMS.includes(opts.platform)) throw new TypeError(`unknown platform ${String(opts.platform)}`);
    for (const k of ['heartbeatSec', 'pongTimeoutMs', 'connectTimeoutMs', 'upAckTimeoutMs'] as const) {
      const v = opts[k];
      // A zero or NaN period would turn the ping or resend timer into a busy loop.
      if (v !== undefined && !(v > 0 && Number.isFinite(v)))
        throw new TypeError(`${k} must be a positive number`);
    }
    const Ws = opts.WebSocket ?? defaultWebSocket();
    if (!Ws) throw new TypeError('no WebSocket: pass options.WebSocket (in Node 20: `ws`)');
    this.opts = opts;
    this.Ws = Ws;
    this.timers = opts.timers ?? globalTimers;
    this.random = opts.random ?? Math.random;
    this.policy = new ReconnectPolicy(opts.reconnect);
    this.dedup = new DedupWindow(opts.dedupWindow ?? 1024);
    this.outbox = new UpstreamOutbox(opts.maxPendingUpstream ?? 1000);
    this.acks = new AckBacklog(opts.maxPendingAcks ?? 1024);
    this.appState_ = opts.appState ?? 'foreground';
    this.configVersion_ = opts.configVersion;
    // Upstream ids must not repeat across app restarts (the server may dedup on them): random prefix + counter.
    this.upIdPrefix = `u${Math.floor(this.random() * 2 ** 32).toString(36)}${Math.floor(this.random() * 2 ** 32).toString(36)}`;
  }

  get state(): ClientState {
    return this.phase === 'connecting' || this.phase === 'open' ? this.phase : 'closed';
  }
  get session(): string | undefined {
    return this.session_;
  }
  get appState(): AppState {
    return this.appState_;
  }
  get configVersion(): number | undefined {
    return this.configVersion_;
  }
  /** Upstream messages still waiting for their up.ack. */
  get pendingUpstream(): number {
    return this.outbox.size;
  }

  /** Starts connecting. No-op while connecting/open/waiting; restarts after a stop (4401/4409). */
  connect(): void {
    if (this.phase === 'closed') throw new ClientError('TACO_ERR_BAD_INPUT', 'connect() after close()');
    if (this.phase !== 'idle' && this.phase !== 'stopped') return;
    this.policy.reset();
    this.startAttempt();
  }

  /** Stops everything: socket, every timer; pending upstream handles resolve false. Idempotent. */
  close(): void {
    if (this.phase === 'closed') return;
    const prev = this.phase;
    this.phase = 'closed';
    this.endConnection(1000, 'client closed');
    this.reconnectTimer = this.clearTimer(this.reconnectTimer);
    this.outbox.abandonAll();
    if (prev !== 'idle' && prev !== 'stopped')
      this.emit('state', { state: 'closed', code: 1000, reason: 'client closed' });
  }

  setAppState(appState: AppState): void {
    if (appState !== 'foreground' && appState !== 'background')
      throw new TypeError(`bad appState ${appState}`);
    if (appState === this.appState_) return;
    this.appState_ = appState;
    if (this.phase === 'open') this.sendFrame({ op: 'state', appState });
  }

  /** A third-party push token for fallback delivery; kept and re-sent after every reconnect. */
  register(channel: ThirdPartyChannelName, token: string): void {
    if (!CHANNELS.includes(channel)) throw new TypeError(`unknown channel ${String(channel)}`);
    checkString(token, 'token', 4096);
    this.registrations.set(channel, token);
    if (this.phase === 'open') this.sendFrame({ op: 'register', channel, token });
  }

  /** The notification for `id` was shown. */
  displayed(id: string): void {
    checkString(id, 'id', 32);
    this.ack(id, 'displayed');
  }

  /** The user opened the notification for `id`. */
  opened(id: string): void {
    checkString(id, 'id', 32);
    this.ack(id, 'opened');
  }

  /**
   * Upstream message, at least once: sent now if connected, else after the
   * next welcome, and again until the server's `up.ack`. Throws ClientError
   * for data the server would reject (it would be resent forever).
   */
  send(data: Record<string, unknown>, opts: { id?: string } = {}): UpstreamHandle {
    if (this.phase === 'closed') throw new ClientError('TACO_ERR_BAD_INPUT', 'send() after close()');
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new ClientError('TACO_ERR_BAD_INPUT', 'upstream data must be a JSON object');
    }
    const id = opts.id ?? `${this.upIdPrefix}-${(++this.upSeq).toString(36)}`;
    checkString(id, 'id', 128);
    if (this.outbox.has(id)) throw new ClientError('TACO_ERR_BAD_INPUT', `upstream ${id} is already pending`);
    if (this.outbox.size >= this.outbox.capacity) {
      throw new ClientError('TACO_ERR_OUTBOX_FULL', `${this.outbox.size} upstream messages await up.ack`);
    }
    let text: string;
    try {
      text = JSON.stringify({ op: 'up', id, data } satisfies ClientFrame);
    } catch (e) {
      throw new ClientError('TACO_ERR_BAD_INPUT', `upstream data is not JSON: ${(e as Error).message}`);
    }
    const bytes = utf8Length(text);
    if (bytes > MAX_FRAME_BYTES) {
      throw new ClientError(
        'TACO_ERR_FRAME_TOO_LARGE',
        `upstream frame of ${bytes} bytes exceeds ${MAX_FRAME_BYTES}`,
      );
    }
    const acked = this.outbox.add(id, text);
    if (this.phase === 'open' && this.sendText(text)) {
      this.outbox.markSent(id);
      this.armResend(this.gen);
    }
    return { id, acked };
  }

  /**
   * A copy that reached the app through a third-party channel (APNs/FCM/vendor).
   * Dedups it against the long connection, ACKs it (now or after the next
   * welcome) and emits it like a socket copy. Returns false for a duplicate.
   */
  ingest(push: PushFrame, via: ThirdPartyChannelName): boolean {
    if (!CHANNELS.includes(via)) throw new TypeError(`unknown channel ${String(via)}`);
    checkString(push.id, 'id', 32);
    return this.onPush(push, via);
  }

  // ---- connection lifecycle ----

  private startAttempt(): void {
    const gen = ++this.gen;
    this.phase = 'connecting';
    this.lastError = undefined;
    this.connectTimer = this.setTimer(() => {
      this.connectTimer = undefined;
      this.lost(gen, CloseCodes.TIMEOUT, 'no welcome within connectTimeoutMs');
    }, this.opts.connectTimeoutMs ?? 15_000);
    const token = this.opts.token;
    if (typeof token === 'string') {
      this.openSocket(gen, token);
    } else {
      // The provider may refresh over the network; a failure is retried like a lost connection.
      new Promise<string>((resolve) => resolve(token())).then(
        (t) => {
          if (gen !== this.gen) return;
          if (typeof t !== 'string' || t.length === 0)
            throw new TypeError('token provider returned no token');
          this.openSocket(gen, t);
        },
        (e) => {
          if (gen !== this.gen) return;
          this.emit(
            'error',
            new ClientError('TACO_ERR_TOKEN_PROVIDER', `token provider failed: ${errMsg(e)}`),
          );
          this.lost(gen, 1006, 'token provider failed');
        },
      );
    }
    if (gen === this.gen && this.phase === 'connecting') this.emit('state', { state: 'connecting' });
  }

  private openSocket(gen: number, token: string): void {
    let ws: WebSocketLike;
    try {
      ws = new this.Ws(this.opts.url, SUBPROTOCOL);
    } catch (e) {
      // A malformed URL will not get better by retrying.
      this.halt(
        gen,
        new ClientError('TACO_ERR_BAD_INPUT', `cannot open ${this.opts.url}: ${errMsg(e)}`, true),
      );
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (gen !== this.gen) return;
      this.helloAppState = this.appState_;
      const hello: HelloFrame = {
        op: 'hello',
        token,
        platform: this.opts.platform,
        appState: this.appState_,
      };
      if (this.configVersion_ !== undefined) hello.configVersion = this.configVersion_;
      if (this.lastAck !== undefined) hello.lastAck = this.lastAck;
      this.sendFrame(hello);
    };
    ws.onmessage = (ev: MessageEventLike) => {
      if (gen === this.gen) this.onData(gen, ev.data);
    };
    ws.onclose = (ev: CloseEventLike) => this.lost(gen, ev.code, ev.reason);
    // A close event always follows an error event; the close is where we act.
    ws.onerror = () => {};
  }

  private onData(gen: number, data: unknown): void {
    // Any frame, even a bad one, proves the connection is alive.
    this.pongTimer = this.clearTimer(this.pongTimer);
    if (typeof data !== 'string') {
      this.emit('error', new ClientError('TACO_ERR_BAD_FRAME', 'server sent a binary frame'));
      return;
    }
    let f: ReturnType<typeof parseServerFrame>;
    try {
      f = parseServerFrame(data);
    } catch (e) {
      // Ignored, not fatal: an unACKed push comes again, and dropping the session would cost more.
      this.emit('error', new ClientError('TACO_ERR_BAD_FRAME', errMsg(e)));
      return;
    }
    if (!f) return;
    switch (f.op) {
      case 'welcome':
        if (this.phase === 'connecting') this.onWelcome(gen, f);
        return;
      case 'pong':
        return;
      case 'push':
        this.onPush(f, 'socket');
        return;
      case 'up.ack':
        if (this.outbox.ack(f.id) && this.outbox.size === 0)
          this.resendTimer = this.clearTimer(this.resendTimer);
        return;
      case 'config':
        if (this.configVersion_ !== undefined && f.version <= this.configVersion_) return;
        this.configVersion_ = f.version;
        this.emit('config', { version: f.version, data: f.data });
        return;
      case 'error':
        // Kept for the close that usually follows: its retryAfterMs and code apply to that close.
        this.lastError = f;
        this.emit('error', new ClientError(f.code, f.message, false, undefined, f.retryAfterMs));
        return;
    }
  }

  private onWelcome(gen: number, f: WelcomeFrame): void {
    this.connectTimer = this.clearTimer(this.connectTimer);
    this.phase = 'open';
    this.session_ = f.session;
    this.policy.update(f.reconnect);
    this.policy.reset();
    this.heartbeatMs = (this.opts.heartbeatSec ?? f.heartbeat) * 1000;
    this.schedulePing(gen);
    // What we owe the server, oldest intent first.
    if (this.helloAppState !== this.appState_) this.sendFrame({ op: 'state', appState: this.appState_ });
    for (const [channel, token] of this.registrations) this.sendFrame({ op: 'register', channel, token });
    this.acks.drain((t) => this.sendText(t));
    this.outbox.sendAll((t) => this.sendText(t));
    this.armResend(gen);
    this.emit('state', { state: 'open', session: f.session });
  }

  /**
   * The connection `gen` ended: socket closed, heartbeat or welcome timeout, or
   * token failure. Decides between reconnect and stop (policy.closeCodeAction).
   */
  private lost(gen: number, code: number, reason: string): void {
    if (gen !== this.gen || this.phase === 'closed') return;
    this.endConnection(code, reason);
    const action = closeCodeAction(code, reason);
    if (action === 'stop') {
      this.halt(this.gen, this.stopError(code, reason), code, reason);
      return;
    }
    if (action === 'reconnect-after') this.policy.retryAfter(parseRetryAfterMs(reason) ?? 0);
    if (this.lastError?.retryAfterMs !== undefined) this.policy.retryAfter(this.lastError.retryAfterMs);
    const delay = this.policy.nextDelayMs(this.random);
    this.phase = 'waiting';
    this.reconnectTimer = this.setTimer(() => {
      this.reconnectTimer = undefined;
      this.startAttempt();
    }, delay);
    this.emit('state', { state: 'closed', code, reason, reconnectInMs: delay });
  }

  /** Stops without reconnecting (fatal error). connect() may start again. */
  private halt(gen: number, err: ClientError, code?: number, reason?: string): void {
    if (gen !== this.gen) return;
    this.endConnection(code ?? 1000, reason ?? err.message);
    this.phase = 'stopped';
    const after = this.gen;
    this.emit('error', err);
    // A listener may have called connect() or close(); then this state is stale.
    if (after === this.gen && this.phase === 'stopped') this.emit('state', { state: 'closed', code, reason });
  }

  private stopError(code: number, reason: string): ClientError {
    const e = this.lastError;
    if (e) return new ClientError(e.code, e.message, true, code, e.retryAfterMs);
    const wire = code === CloseCodes.REPLACED ? 'TACO_ERR_REPLACED' : 'TACO_ERR_UNAUTHENTICATED';
    return new ClientError(wire, reason || `closed with ${code}`, true, code);
  }

  /** Invalidates the current connection: its socket, handlers and timers. Safe to call twice. */
  private endConnection(code: number, reason: string): void {
    this.gen++;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) discardSocket(ws, code, reason.slice(0, 100));
    this.connectTimer = this.clearTimer(this.connectTimer);
    this.pingTimer = this.clearTimer(this.pingTimer);
    this.pongTimer = this.clearTimer(this.pongTimer);
    this.resendTimer = this.clearTimer(this.resendTimer);
    this.session_ = undefined;
  }

  // ---- heartbeat and resends ----

  private schedulePing(gen: number): void {
    this.pingTimer = this.setTimer(() => {
      this.pingTimer = undefined;
      if (gen !== this.gen) return;
      this.sendFrame({ op: 'ping' });
      if (this.pongTimer === undefined) {
        const timeoutMs = this.opts.pongTimeoutMs ?? Math.min(10_000, this.heartbeatMs / 2);
        this.pongTimer = this.setTimer(() => {
          this.pongTimer = undefined;
          this.lost(gen, CloseCodes.TIMEOUT, 'heartbeat timeout: no frame after ping');
        }, timeoutMs);
      }
      this.schedulePing(gen);
    }, this.heartbeatMs);
  }

  private armResend(gen: number): void {
    if (this.phase !== 'open' || this.outbox.size === 0 || this.resendTimer !== undefined) return;
    this.resendTimer = this.setTimer(() => {
      this.resendTimer = undefined;
      if (gen !== this.gen) return;
      this.outbox.resendDue((t) => this.sendText(t));
      this.armResend(gen);
    }, this.opts.upAckTimeoutMs ?? 10_000);
  }

  // ---- pushes and ACKs ----

  /** Every copy is ACKed `received`; only the first copy of an id reaches the app. */
  private onPush(f: PushFrame, via: Via): boolean {
    const isNew = this.dedup.add(f.id);
    this.ack(f.id, 'received');
    this.lastAck = f.id;
    if (!isNew) return false;
    const d = displayDecision(f.kind, via === 'socket', this.appState_);
    if (d === 'notify') this.emit('notification', f, via);
    else if (d === 'data') this.emit('message', f, via);
    return true;
  }

  private ack(id: string, status: AckStatus): void {
    const text = JSON.stringify({ op: 'ack', id, status } satisfies ClientFrame);
    if (this.phase !== 'open' || !this.sendText(text)) this.acks.push(text);
  }

  // ---- wire ----

  private sendFrame(f: ClientFrame): boolean {
    return this.sendText(JSON.stringify(f));
  }

  private sendText(text: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(text);
      return true;
    } catch {
      return false; // closing under us: the close event follows and decides what happens next
    }
  }

  /** Every timer goes through here: capped so no value overflows into a 1 ms timer. */
  private setTimer(fn: () => void, ms: number): unknown {
    return this.timers.setTimeout(fn, Math.min(ms, TIMER_MAX_MS));
  }

  private clearTimer(h: unknown): undefined {
    if (h !== undefined) this.timers.clearTimeout(h);
    return undefined;
  }
}

function checkString(v: unknown, field: string, maxLen: number): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLen) {
    throw new ClientError('TACO_ERR_BAD_INPUT', `${field} must be a string of 1..${maxLen} characters`);
  }
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
