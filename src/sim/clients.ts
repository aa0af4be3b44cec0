/**
 * The simulated client population: 1.6M phones in typed arrays, driven by
 * typed events (no allocation per heartbeat). The decisions are the SDK's
 * own (src/client/policy.ts): reconnect delays with the server-delivered
 * backoff and jitter, the close-code actions and retry-after floors, dedup.
 *
 * Simplifications, on purpose: a ping reaches the gateway at the client's
 * heartbeat tick (uplink latency folded into the tick's phase) and pongs are
 * not delivered; a client detects a dead link by a heartbeat that finds the
 * path cut, `pongTimeoutMs` later — what the SDK's pong timeout does.
 */

import { closeCodeAction, DedupWindow, parseRetryAfterMs, reconnectDelayMs } from '../client/policy.js';
import type { BackoffPolicy } from '../core/backoff.js';
import type { Random } from '../core/clock.js';
import type { GatewayCore } from '../core/gateway.js';
import type { ClientFrame, HelloFrame, Platform, ServerFrame } from '../core/protocol.js';
import { Ev, SimConn, type SimNetwork } from './network.js';
import type { VirtualScheduler } from './virtual-clock.js';

export const ClientState = { IDLE: 0, CONNECTING: 1, AUTH: 2, OPEN: 3, STOPPED: 4 } as const;

export interface SimNodeHandle {
  index: number;
  ezone: string;
  gateway: GatewayCore;
  dead: boolean;
  /** Virtual time at which this node's CPU is free again (sign-in queueing). */
  cpuFreeAt: number;
}

export interface ClientPopulationParams {
  count: number;
  regions: string[];
  /** Region of client i: index into regions. */
  regionOf: (i: number) => number;
  platformOf: (i: number) => Platform;
  heartbeatSec: number;
  reconnect: BackoffPolicy;
  connectTimeoutMs: number;
  pongTimeoutMs: number;
  signInCpuMs: number;
  frameCpuMs: number;
}

export interface ClientObserver {
  onOnline(c: number, recoveryMs: number | undefined): void;
  onOffline(c: number): void;
  onConnectAttempt(c: number): void;
  onPushShown(c: number, id: string, ts: number): void;
  onDuplicate(c: number): void;
  onSignInRejected(c: number, code: number): void;
}

const PING: ClientFrame = { op: 'ping' };

export class ClientPopulation {
  readonly state: Uint8Array;
  readonly attempt: Uint8Array;
  readonly region: Uint8Array;
  readonly dnsEzone: Int8Array;
  readonly dnsExpiresAt: Float64Array;
  /** Due time of the one pending state timer (connect, timeout, dead); events at other times are stale. */
  readonly timerAt: Float64Array;
  readonly heartbeatAt: Float64Array;
  readonly lostAt: Float64Array;
  readonly retryFloorMs: Float64Array;
  readonly pendingNode: Int16Array;
  readonly policyIdx: Uint8Array;
  readonly conns: (SimConn | undefined)[];
  private readonly policies: BackoffPolicy[];
  private readonly policyKeys = new Map<string, number>();
  /** The SDK's dedup, one window over the population (message ids are globally unique). */
  readonly dedup: DedupWindow;
  online = 0;
  get signInCpuMs(): number {
    return this.p.signInCpuMs;
  }
  private readonly rnd: () => number;

  constructor(
    private readonly p: ClientPopulationParams,
    private readonly clock: VirtualScheduler,
    random: Random,
    private readonly net: SimNetwork,
    private readonly nodes: SimNodeHandle[],
    private readonly nodesByEzone: Map<string, SimNodeHandle[]>,
    private readonly ezones: string[],
    private readonly observer: ClientObserver,
  ) {
    const n = p.count;
    this.state = new Uint8Array(n);
    this.attempt = new Uint8Array(n);
    this.region = new Uint8Array(n);
    this.dnsEzone = new Int8Array(n).fill(-1);
    this.dnsExpiresAt = new Float64Array(n);
    this.timerAt = new Float64Array(n).fill(Number.NaN);
    this.heartbeatAt = new Float64Array(n).fill(Number.NaN);
    this.lostAt = new Float64Array(n).fill(Number.NaN);
    this.retryFloorMs = new Float64Array(n);
    this.pendingNode = new Int16Array(n).fill(-1);
    this.policyIdx = new Uint8Array(n);
    this.conns = new Array(n);
    this.policies = [p.reconnect];
    this.dedup = new DedupWindow(Math.max(1024, Math.min(8_000_000, n * 4)));
    this.rnd = () => random.next();
    for (let i = 0; i < n; i++) this.region[i] = p.regionOf(i);
    clock.onTyped = (kind, target) => this.onEvent(kind, target);
  }

  /** Initial connects spread uniformly over `rampMs`. */
  start(rampMs: number): void {
    const now = this.clock.now();
    for (let c = 0; c < this.p.count; c++) {
      const at = now + Math.floor(this.rnd() * rampMs);
      this.timerAt[c] = at;
      this.clock.at(at, Ev.CONNECT, c);
    }
  }

  private onEvent(kind: number, c: number): void {
    switch (kind) {
      case Ev.CONNECT:
        if (this.timerAt[c] === this.clock.now() && this.state[c] === ClientState.IDLE) this.connect(c);
        return;
      case Ev.ARRIVE_AT_GATEWAY:
        if (this.timerAt[c] === this.clock.now() && this.state[c] === ClientState.CONNECTING) this.arrive(c);
        return;
      case Ev.CONNECT_TIMEOUT:
        if (
          this.timerAt[c] === this.clock.now() &&
          (this.state[c] === ClientState.CONNECTING || this.state[c] === ClientState.AUTH)
        ) {
          this.abandon(c);
          this.scheduleReconnect(c, 0);
        }
        return;
      case Ev.HEARTBEAT:
        if (this.heartbeatAt[c] === this.clock.now() && this.state[c] === ClientState.OPEN) this.heartbeat(c);
        return;
      case Ev.DEAD:
        if (this.timerAt[c] === this.clock.now() && this.state[c] === ClientState.OPEN) {
          this.abandon(c);
          this.wentOffline(c);
          this.scheduleReconnect(c, 0);
        }
        return;
      case Ev.DOWNLINK:
        this.downlink(c);
        return;
      case Ev.UPLINK:
        this.uplink(c);
        return;
    }
  }

  private resolveEzone(c: number): string {
    const now = this.clock.now();
    if (this.dnsEzone[c]! < 0 || this.dnsExpiresAt[c]! <= now) {
      const region = this.p.regions[this.region[c]!]!;
      const ez = this.net.dns.get(region) ?? region;
      this.dnsEzone[c] = this.ezones.indexOf(ez);
      this.dnsExpiresAt[c] = now + this.net.dnsTtlMs;
    }
    return this.ezones[this.dnsEzone[c]!]!;
  }

  private connect(c: number): void {
    const now = this.clock.now();
    this.state[c] = ClientState.CONNECTING;
    this.observer.onConnectAttempt(c);
    const ezone = this.resolveEzone(c);
    const node = this.pickGateway(ezone);
    if (!node || this.net.isCut(node.ezone)) {
      // SYN into the void: the attempt fails at the connect timeout.
      this.armTimer(c, now + this.p.connectTimeoutMs, Ev.CONNECT_TIMEOUT);
      return;
    }
    if (node.dead) {
      // Nobody listens: RST after a round trip.
      this.armTimer(c, now + 2 * this.net.oneWayMs(), Ev.CONNECT_TIMEOUT);
      return;
    }
    // The gateway accepts and signs in one at a time per core: queueing is the storm's real cost.
    const arrive = now + this.net.oneWayMs();
    const start = Math.max(arrive, node.cpuFreeAt);
    node.cpuFreeAt = start + this.p.signInCpuMs;
    if (start - now > this.p.connectTimeoutMs) {
      this.armTimer(c, now + this.p.connectTimeoutMs, Ev.CONNECT_TIMEOUT);
      return;
    }
    this.pendingNode[c] = node.index;
    this.armTimer(c, start, Ev.ARRIVE_AT_GATEWAY);
  }

  /**
   * The dispatch service answers with live gateways of the ezone (it watches
   * the node directory); with none alive there, with live ones elsewhere.
   */
  private pickGateway(ezone: string): SimNodeHandle | undefined {
    const all = this.nodesByEzone.get(ezone) ?? [];
    let live = 0;
    for (const n of all) if (!n.dead) live++;
    if (live > 0) {
      let k = Math.floor(this.rnd() * live);
      for (const n of all) if (!n.dead && k-- === 0) return n;
    }
    const others = this.nodes.filter((n) => !n.dead);
    return others[Math.floor(this.rnd() * others.length)];
  }

  private arrive(c: number): void {
    const node = this.nodes[this.pendingNode[c]!]!;
    if (node.dead || this.net.isCut(node.ezone)) {
      this.armTimer(c, this.clock.now() + this.p.connectTimeoutMs, Ev.CONNECT_TIMEOUT);
      return;
    }
    const conn = new SimConn(c, node.index, node.ezone, this.net, this.clock);
    this.conns[c] = conn;
    this.state[c] = ClientState.AUTH;
    this.armTimer(c, this.clock.now() + this.p.connectTimeoutMs, Ev.CONNECT_TIMEOUT);
    conn.session = node.gateway.open(conn);
    const hello: HelloFrame = {
      op: 'hello',
      token: `sim:${c}`,
      platform: this.p.platformOf(c),
      appState: 'background',
      configVersion: 0,
    };
    node.gateway.frame(conn.session, hello);
  }

  private armTimer(c: number, at: number, kind: number): void {
    const t = Math.ceil(at);
    this.timerAt[c] = t;
    this.clock.at(t, kind, c);
  }

  private heartbeat(c: number): void {
    const conn = this.conns[c]!;
    const node = this.nodes[conn.node]!;
    const now = this.clock.now();
    if (conn.serverClosed && !this.net.isCut(conn.ezone)) {
      // The server closed or died while we were idle: the ping meets a RST.
      this.closed(c, 1006, 'reset');
      return;
    }
    if (node.dead || this.net.isCut(conn.ezone) || conn.serverClosed) {
      // No pong will come: the SDK gives up on this link after its pong timeout.
      this.armTimer(c, now + this.p.pongTimeoutMs, Ev.DEAD);
      this.heartbeatAt[c] = Number.NaN;
      return;
    }
    node.cpuFreeAt = Math.max(node.cpuFreeAt, now) + this.p.frameCpuMs;
    node.gateway.frame(conn.session!, PING);
    this.scheduleHeartbeat(c);
  }

  private scheduleHeartbeat(c: number): void {
    const at = this.clock.now() + this.p.heartbeatSec * 1000;
    this.heartbeatAt[c] = at;
    this.clock.at(at, Ev.HEARTBEAT, c);
  }

  private downlink(c: number): void {
    const conn = this.conns[c];
    if (!conn || conn.clientGone || conn.downHead >= conn.down.length) return;
    const item = conn.down[conn.downHead]!;
    if (item.at > this.clock.now()) return;
    conn.down[conn.downHead++] = undefined as never;
    if (conn.downHead === conn.down.length) {
      conn.down.length = 0;
      conn.downHead = 0;
    }
    if (item.frame === null) {
      this.closed(c, item.code, item.reason);
      return;
    }
    this.onFrame(c, conn, item.frame);
  }

  private onFrame(c: number, conn: SimConn, f: ServerFrame): void {
    switch (f.op) {
      case 'welcome': {
        this.state[c] = ClientState.OPEN;
        this.attempt[c] = 0;
        this.retryFloorMs[c] = 0;
        this.timerAt[c] = Number.NaN;
        if (f.reconnect) this.policyIdx[c] = this.policyIndex(f.reconnect);
        const lost = this.lostAt[c]!;
        this.lostAt[c] = Number.NaN;
        this.online++;
        this.observer.onOnline(c, Number.isNaN(lost) ? undefined : this.clock.now() - lost);
        this.scheduleHeartbeat(c);
        return;
      }
      case 'push': {
        if (this.dedup.add(f.id)) this.observer.onPushShown(c, f.id, f.ts);
        else this.observer.onDuplicate(c);
        // The SDK ACKs every copy, duplicates included.
        conn.sendUp({ op: 'ack', id: f.id, status: 'received' });
        return;
      }
      case 'error':
        if (f.retryAfterMs) this.retryFloorMs[c] = f.retryAfterMs;
        return;
      default:
        return;
    }
  }

  private lastPolicy: BackoffPolicy | undefined;
  private lastPolicyIdx = 0;

  private policyIndex(p: BackoffPolicy): number {
    // Gateways send one shared object: identity is the fast path.
    if (p === this.lastPolicy) return this.lastPolicyIdx;
    const key = `${p.baseMs}/${p.maxMs}/${p.jitter}`;
    let i = this.policyKeys.get(key);
    if (i === undefined) {
      i = this.policies.length;
      this.policies.push({ baseMs: p.baseMs, maxMs: p.maxMs, jitter: p.jitter });
      this.policyKeys.set(key, i);
    }
    this.lastPolicy = p;
    this.lastPolicyIdx = i;
    return i;
  }

  private uplink(c: number): void {
    const conn = this.conns[c];
    if (!conn || conn.upHead >= conn.up.length) return;
    const item = conn.up[conn.upHead]!;
    if (item.at > this.clock.now()) return;
    conn.up[conn.upHead++] = undefined as never;
    if (conn.upHead === conn.up.length) {
      conn.up.length = 0;
      conn.upHead = 0;
    }
    const node = this.nodes[conn.node]!;
    if (node.dead || this.net.isCut(conn.ezone) || !conn.session) return;
    if (item.frame === null) node.gateway.gone(conn.session);
    else node.gateway.frame(conn.session, item.frame);
  }

  /** The server closed our connection (close frame or reset arrived). */
  private closed(c: number, code: number, reason: string): void {
    const wasOpen = this.state[c] === ClientState.OPEN;
    const conn = this.conns[c];
    if (conn) conn.clientGone = true;
    if (wasOpen) this.wentOffline(c);
    else if (code === 4503 || code === 4429) this.observer.onSignInRejected(c, code);
    const action = closeCodeAction(code, reason);
    if (action === 'stop') {
      this.state[c] = ClientState.STOPPED;
      this.timerAt[c] = Number.NaN;
      return;
    }
    // "Moved" or a network error: ask the dispatch DNS again rather than trust the cached answer.
    if (code === 4503 || code === 1006) this.dnsExpiresAt[c] = 0;
    const floor = action === 'reconnect-after' ? (parseRetryAfterMs(reason) ?? 0) : this.retryFloorMs[c]!;
    this.scheduleReconnect(c, floor);
  }

  private wentOffline(c: number): void {
    if (this.state[c] === ClientState.OPEN) this.online--;
    this.state[c] = ClientState.IDLE;
    this.heartbeatAt[c] = Number.NaN;
    if (Number.isNaN(this.lostAt[c]!)) this.lostAt[c] = this.clock.now();
    this.observer.onOffline(c);
  }

  /** The client gives up on its current connection (timeout or dead link); FIN goes out if the path is up. */
  private abandon(c: number): void {
    const conn = this.conns[c];
    if (conn && !conn.clientGone) {
      conn.sendUp(null);
      conn.clientGone = true;
    }
  }

  /**
   * App went away without closing (half-close from the peer's side: the
   * gateway's socket sits in CLOSE_WAIT until the gateway closes it). The
   * client comes back later as a fresh connection.
   */
  halfClose(c: number, comeBackAfterMs: number): void {
    if (this.state[c] !== ClientState.OPEN) return;
    const conn = this.conns[c]!;
    const node = this.nodes[conn.node]!;
    if (conn.session && !node.dead && !this.net.isCut(conn.ezone)) node.gateway.peerClosed(conn.session);
    conn.clientGone = true;
    this.wentOffline(c);
    this.lostAt[c] = Number.NaN; // an app restart, not an outage: no recovery sample
    this.state[c] = ClientState.IDLE;
    this.attempt[c] = 0;
    this.armTimer(c, this.clock.now() + comeBackAfterMs, Ev.CONNECT);
  }

  /** The node died: its connections reset. */
  resetNode(nodeIndex: number): void {
    for (let c = 0; c < this.p.count; c++) {
      const conn = this.conns[c];
      if (conn && conn.node === nodeIndex && !conn.clientGone) conn.reset();
    }
  }

  private scheduleReconnect(c: number, floorMs: number): void {
    const policy = this.policies[this.policyIdx[c]!]!;
    const delay = reconnectDelayMs(policy, this.attempt[c]!, floorMs, this.rnd);
    if (this.attempt[c]! < 30) this.attempt[c]!++;
    this.state[c] = ClientState.IDLE;
    this.retryFloorMs[c] = 0;
    this.armTimer(c, this.clock.now() + Math.max(1, delay), Ev.CONNECT);
  }
}
