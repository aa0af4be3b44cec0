/**
 * The gateway's session registry: sign-in, heartbeats, routes, delivery, and
 * the single place a session is closed (`closeSession`). Transport adapters
 * (ws in production, the simulated network in `taco sim`) call `open`, `text`
 * or `frame`, and `gone`; the core answers through the ClientConnection port.
 */
import { AppDeviceMap } from './app-device-map.js';
import type { Authenticator } from './auth.js';
import type { Scheduler, TimerHandle } from './clock.js';
import type { CoreConfig } from './config.js';
import { asTacoError, TacoError } from './errors.js';
import type { RouteStore, Telemetry } from './ports.js';
import {
  type AckStatus,
  type AppState,
  type ClientFrame,
  CloseCodes,
  decodeClientFrame,
  type HelloFrame,
  type Platform,
  type PushFrame,
  type ReconnectPolicyWire,
  type ServerFrame,
  type ThirdPartyChannelName,
} from './protocol.js';
import { TimingWheel, type WheelEntry } from './timing-wheel.js';
import { TokenBucket } from './token-bucket.js';

/** Transport to one client connection. `close` is called only by the gateway core. */
export interface ClientConnection {
  send(frame: ServerFrame): void;
  close(code: number, reason: string): void;
  /**
   * Optional: the pong of a ping, `{ op: 'pong', ts }`, without a frame object — for a transport
   * that writes it in its own way (or, in the simulator, drops it). Without it the gateway `send`s
   * the frame. Every heartbeat of every client gets one, so the object adds up (one per heartbeat
   * of 1.6M simulated clients).
   */
  pong?(ts: number): void;
}

export type SessionState = 'hello' | 'auth' | 'open' | 'closed';

export class Session implements WheelEntry {
  wheelPrev: WheelEntry | null = null;
  wheelNext: WheelEntry | null = null;
  wheelDeadline = Number.NaN;
  wheelSlot = 0;
  wheelWant = 0;
  wheelSeq = 0;
  state: SessionState = 'hello';
  id = '';
  app = '';
  device = '';
  user: string | undefined;
  loc: string | undefined;
  platform: Platform = 'android';
  appState: AppState = 'foreground';
  /** The peer stopped sending (half-closed / CLOSE_WAIT on our side). */
  halfOpen = false;
  /** When the reaper is disabled (drill variant) an expired session lingers here. */
  leaked = false;
  constructor(readonly conn: ClientConnection) {}
}

/** What the gateway calls on the rest of the node (wired by node.ts). */
export interface GatewayHooks {
  onSignedIn(s: Session, hello: HelloFrame): void;
  onAck(s: Session, id: string, status: AckStatus): void;
  onUpstream(s: Session, id: string, data: Record<string, unknown>): Promise<void>;
  onRegister(s: Session, channel: ThirdPartyChannelName, token: string): void;
  configFor(
    app: string,
    platform: Platform,
  ): Promise<{ version: number; data: Record<string, unknown> } | undefined>;
}

export interface GatewayIdentity {
  node: number;
  ezone: string;
}

export class GatewayCore {
  private readonly wheel: TimingWheel<Session>;
  private readonly byDevice = new AppDeviceMap<Session>();
  private readonly admission: TokenBucket;
  private readonly tick: TimerHandle;
  private readonly routeRetry = new Set<Session>();
  private sessionSeq = 0;
  private open_ = 0;
  private connections_ = 0;
  private halfOpen_ = 0;
  private leaked_ = 0;
  private draining:
    | { filter: (s: Session) => boolean; reason: string | ((s: Session) => string); timer: TimerHandle }
    | undefined;
  hooks: GatewayHooks | undefined;
  /** One shared, frozen copy: every welcome carries the same policy. */
  private readonly reconnectWire: Readonly<ReconnectPolicyWire>;

  constructor(
    private readonly id: GatewayIdentity,
    private readonly cfg: CoreConfig['gateway'],
    private readonly clock: Scheduler,
    private readonly auth: Authenticator,
    private readonly routes: RouteStore,
    private readonly telemetry: Telemetry,
  ) {
    const now = clock.now();
    const horizonMs = (2 * cfg.heartbeatSec + 5) * 1000 + cfg.helloTimeoutMs;
    this.wheel = new TimingWheel<Session>(cfg.wheelTickMs, Math.ceil(horizonMs / cfg.wheelTickMs) + 2, now);
    this.admission = new TokenBucket(cfg.signInsPerSec, cfg.signInBurst, now);
    this.tick = clock.setInterval(() => this.onTick(), cfg.wheelTickMs);
    this.reconnectWire = Object.freeze({ ...cfg.reconnect });
  }

  /** Signed-in sessions. */
  get sessions(): number {
    return this.open_;
  }
  /** Every connection the gateway holds, including unsigned and leaked ones (memory is proportional to this). */
  get connections(): number {
    return this.connections_;
  }
  get halfOpen(): number {
    return this.halfOpen_;
  }
  get leaked(): number {
    return this.leaked_;
  }
  get heartbeatTimeoutMs(): number {
    return (2 * this.cfg.heartbeatSec + 5) * 1000;
  }

  /** Wheel deadline: one tick early, so a reap never comes later than 2×heartbeat+5 s (the wheel fires up to a tick late). */
  private get reapAfterMs(): number {
    return Math.max(this.heartbeatTimeoutMs - this.cfg.wheelTickMs, 2 * this.cfg.heartbeatSec * 1000);
  }

  /** A transport accepted a connection. The client has helloTimeoutMs to sign in. */
  open(conn: ClientConnection): Session {
    const s = new Session(conn);
    this.connections_++;
    this.wheel.touch(s, this.clock.now() + this.cfg.helloTimeoutMs);
    return s;
  }

  /** A text frame arrived (ws adapter). Decoding errors close only this connection. */
  text(s: Session, text: string, byteLength: number): void {
    if (s.state === 'closed') return;
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(text, byteLength);
    } catch (e) {
      this.fail(s, asTacoError(e));
      return;
    }
    this.frame(s, frame);
  }

  /** A decoded frame arrived (ws adapter after decode, or the simulator). */
  frame(s: Session, f: ClientFrame): void {
    switch (s.state) {
      case 'closed':
        return;
      case 'hello':
        if (f.op !== 'hello') {
          this.fail(s, new TacoError('HELLO_REQUIRED', `the first frame must be hello, got ${f.op}`));
          return;
        }
        this.signIn(s, f);
        return;
      case 'auth':
        // Frames sent before the welcome: a ping is harmless, anything else is a protocol error.
        if (f.op !== 'ping') this.fail(s, new TacoError('HELLO_REQUIRED', `${f.op} sent before welcome`));
        return;
      case 'open':
        break;
    }
    const now = this.clock.now();
    if (!s.halfOpen) this.wheel.touch(s, now + this.reapAfterMs);
    switch (f.op) {
      case 'ping': {
        const conn = s.conn;
        if (conn.pong !== undefined) conn.pong(now);
        else conn.send({ op: 'pong', ts: now });
        return;
      }
      case 'ack':
        this.hooks?.onAck(s, f.id, f.status);
        return;
      case 'state':
        s.appState = f.appState;
        return;
      case 'register':
        this.hooks?.onRegister(s, f.channel, f.token);
        return;
      case 'up': {
        const hooks = this.hooks;
        if (!hooks) return;
        hooks.onUpstream(s, f.id, f.data).then(
          () => {
            if (s.state === 'open') s.conn.send({ op: 'up.ack', id: f.id });
          },
          (e) => {
            // Not durably queued: no up.ack, the SDK retries. The connection stays.
            if (s.state === 'open') {
              const err = asTacoError(e);
              s.conn.send({
                op: 'error',
                code: err.wireCode,
                message: `upstream ${f.id} not queued: ${err.message}`,
              });
            }
          },
        );
        return;
      }
      case 'hello':
        this.fail(s, new TacoError('BAD_FRAME', 'hello sent twice'));
        return;
    }
  }

  /** The peer half-closed (sent FIN) but the socket is still ours to close. */
  peerClosed(s: Session): void {
    if (s.state === 'closed' || s.halfOpen) return;
    s.halfOpen = true;
    this.halfOpen_++;
  }

  /** The transport is gone (socket closed or errored): forget the session without closing it again. */
  gone(s: Session): void {
    if (s.state === 'closed') return;
    this.closeSession(s, null, 'transport closed');
  }

  private signIn(s: Session, hello: HelloFrame): void {
    const now = this.clock.now();
    if (!this.admission.take(now)) {
      this.telemetry.count('signin.rejected');
      const err = new TacoError('OVERLOADED', 'sign-in rate limit reached on this node; retry later', {
        retryAfterMs: this.cfg.retryAfterMs,
      });
      s.conn.send({
        op: 'error',
        code: err.wireCode,
        message: err.message,
        retryAfterMs: this.cfg.retryAfterMs,
      });
      this.closeSession(s, CloseCodes.MOVED, `retry-after=${Math.ceil(this.cfg.retryAfterMs / 1000)}`);
      return;
    }
    s.state = 'auth';
    // The request's own lifetime: aborted as soon as the sign-in is handled, like a request context.
    // Created only if something asks for it (a cache miss), because most sign-ins never do.
    let request: AbortController | undefined;
    const requestSignal = () => (request ??= new AbortController()).signal;
    this.auth
      .authenticate(hello.token, requestSignal)
      .then(
        (claims) => {
          if (s.state !== 'auth') return; // closed while authenticating
          s.app = claims.app;
          s.device = claims.dev;
          s.user = claims.sub;
          s.loc = claims.loc;
          s.platform = hello.platform;
          s.appState = hello.appState;
          this.admit(s, hello);
        },
        (e) => {
          const err = asTacoError(e);
          this.telemetry.count('signin.failed');
          if (s.state !== 'auth') return;
          // A failing directory is our problem, not a bad token: tell the client to retry.
          if (err.cls !== 'user') {
            s.conn.send({
              op: 'error',
              code: err.wireCode,
              message: err.message,
              retryAfterMs: this.cfg.retryAfterMs,
            });
            this.closeSession(s, CloseCodes.MOVED, `retry-after=${Math.ceil(this.cfg.retryAfterMs / 1000)}`);
          } else {
            this.fail(s, err);
          }
        },
      )
      .finally(() => request?.abort());
  }

  private admit(s: Session, hello: HelloFrame): void {
    const old = this.byDevice.get(s.app, s.device);
    if (old && old !== s) {
      this.telemetry.count('session.replaced');
      old.conn.send({
        op: 'error',
        code: 'TACO_ERR_REPLACED',
        message: 'replaced by a newer session of this device',
      });
      this.closeSession(old, CloseCodes.REPLACED, 'replaced');
    }
    const now = this.clock.now();
    s.state = 'open';
    s.id = `${this.id.node}.${++this.sessionSeq}`;
    this.byDevice.set(s.app, s.device, s);
    this.open_++;
    this.wheel.touch(s, now + this.reapAfterMs);
    this.telemetry.count('signin.ok');
    s.conn.send({
      op: 'welcome',
      session: s.id,
      heartbeat: this.cfg.heartbeatSec,
      node: this.id.node,
      ezone: this.id.ezone,
      reconnect: this.reconnectWire,
    });
    // Pending messages are looked up once the route is written (or its first write failed), not
    // before: a push dispatched between the welcome and the route write finds no route, counts the
    // device offline and is left pending — a lookup made before the write could miss it, and it then
    // waited for the next sign-in or its TTL (found by test/multinode/sigkill.test.ts: one of the
    // first pushes after 300 sign-ins expired on an online device).
    void this.writeRoute(s).then(() => {
      if (s.state === 'open') this.hooks?.onSignedIn(s, hello);
    });
    const hooks = this.hooks;
    if (hooks) {
      hooks.configFor(s.app, s.platform).then(
        (cfg) => {
          if (cfg && s.state === 'open' && cfg.version > (hello.configVersion ?? 0)) {
            s.conn.send({ op: 'config', version: cfg.version, data: cfg.data });
          }
        },
        () => this.telemetry.count('config.lookup_failed'),
      );
    }
  }

  /**
   * Route writes may fail (route store down): the session keeps working and the write is retried on
   * the tick. Resolves (never rejects) once this attempt is over: true if the route was written.
   */
  private writeRoute(s: Session): Promise<boolean> {
    return this.routes
      .put({
        app: s.app,
        device: s.device,
        user: s.user,
        loc: s.loc,
        node: this.id.node,
        ezone: this.id.ezone,
        session: s.id,
        updatedAt: this.clock.now(),
      })
      .then(
        () => {
          this.routeRetry.delete(s);
          return true;
        },
        () => {
          this.telemetry.count('route.write_failed');
          if (s.state === 'open') this.routeRetry.add(s);
          return false;
        },
      );
  }

  /** Sends a push to a session on this node. Returns false when the session is not here any more. */
  deliver(app: string, device: string, session: string | undefined, frame: PushFrame): boolean {
    const s = this.byDevice.get(app, device);
    if (s?.state !== 'open' || s.halfOpen || (session !== undefined && s.id !== session)) return false;
    s.conn.send(frame);
    return true;
  }

  sessionOf(app: string, device: string): Session | undefined {
    const s = this.byDevice.get(app, device);
    return s && s.state === 'open' ? s : undefined;
  }

  /** Protocol error on one connection: error frame, then close with the error's code. */
  protocolError(s: Session, err: TacoError): void {
    this.fail(s, err);
  }

  private fail(s: Session, err: TacoError): void {
    if (s.state === 'closed') return;
    s.conn.send({ op: 'error', code: err.wireCode, message: err.message });
    this.closeSession(s, err.closeCode, err.code.toLowerCase());
  }

  /**
   * The one place a session ends. `code === null` means the transport is already
   * gone. Removes the wheel entry, the device index and the route (only if it is
   * still ours), then closes the connection.
   */
  private closeSession(s: Session, code: number | null, reason: string): void {
    if (s.state === 'closed') return;
    const wasOpen = s.state === 'open';
    s.state = 'closed';
    this.wheel.remove(s);
    this.connections_--;
    if (s.halfOpen) this.halfOpen_--;
    if (s.leaked) this.leaked_--;
    this.routeRetry.delete(s);
    if (wasOpen) {
      this.open_--;
      if (this.byDevice.get(s.app, s.device) === s) {
        this.byDevice.delete(s.app, s.device);
        this.routes.remove(s.app, s.device, s.id).catch(() => this.telemetry.count('route.remove_failed'));
      }
    }
    if (code !== null) s.conn.close(code, reason);
  }

  private onTick(): void {
    const now = this.clock.now();
    this.wheel.advance(now, (s) => this.expire(s));
    for (const s of this.routeRetry) {
      this.routeRetry.delete(s);
      this.writeRoute(s);
    }
    this.telemetry.gauge('gateway.connections', this.connections_);
  }

  private expire(s: Session): void {
    if (!this.cfg.reapIdle) {
      // Drill variant reproducing the CLOSE_WAIT leak: the timer fires but nobody closes.
      if (!s.leaked) {
        s.leaked = true;
        this.leaked_++;
      }
      return;
    }
    this.telemetry.count('session.reaped');
    if (s.state === 'hello' || s.state === 'auth') {
      s.conn.send({
        op: 'error',
        code: 'TACO_ERR_SIGN_IN_TIMEOUT',
        message: 'no hello within the sign-in timeout',
      });
    } else {
      s.conn.send({
        op: 'error',
        code: 'TACO_ERR_HEARTBEAT_TIMEOUT',
        message: 'no frame within 2×heartbeat+5 s',
      });
    }
    this.closeSession(s, CloseCodes.TIMEOUT, 'timeout');
  }

  /**
   * Closes the matching sessions with 4503 at `drainPerSec`, naming where to go.
   * Used when the node shuts down or its ezone stops serving a region.
   */
  drain(filter: (s: Session) => boolean, reason: string | ((s: Session) => string)): void {
    this.draining?.timer.cancel();
    // Budget in tenths of a session: every 100 ms tick adds drainPerSec tenths, a close costs 10,
    // so any rate (also below 10/s or not a multiple of 10) is kept exactly, without bursts.
    const rate = this.cfg.drainPerSec;
    let budget = 0;
    const timer = this.clock.setInterval(() => {
      budget = Math.min(budget + rate, Math.max(10, rate));
      for (const s of this.byDevice.values()) {
        if (!filter(s)) continue;
        if (budget < 10) return;
        const why = typeof reason === 'string' ? reason : reason(s);
        s.conn.send({ op: 'error', code: 'TACO_ERR_DRAINING', message: `session moved: ${why}` });
        this.closeSession(s, CloseCodes.MOVED, why);
        budget -= 10;
      }
      timer.cancel();
      this.draining = undefined;
    }, 100);
    this.draining = { filter, reason, timer };
  }

  get isDraining(): boolean {
    return this.draining !== undefined;
  }

  /** Signed-in sessions matching `filter` (drill metrics; O(sessions)). */
  countSessions(filter: (s: Session) => boolean): number {
    let n = 0;
    for (const s of this.byDevice.values()) if (s.state === 'open' && filter(s)) n++;
    return n;
  }

  /** Stops the tick and closes every connection (node shutdown). */
  shutdown(code: number = CloseCodes.MOVED, reason = 'node shutting down'): void {
    this.tick.cancel();
    this.draining?.timer.cancel();
    for (const s of [...this.byDevice.values()]) this.closeSession(s, code, reason);
  }
}
