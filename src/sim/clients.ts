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
 *
 * The accept path, as a single-threaded epoll server has it (see `synArrives`):
 * a node works in rounds. A connection that arrives while a round is in
 * progress waits in the kernel's listen queue (`listenBacklog`, the smaller of
 * the backlog asked for and net.core.somaxconn) and is accepted when the round
 * ends, with everything else waiting there; its sign-in is then part of the
 * next round. A SYN that finds the listen queue full is dropped by the kernel
 * and the client's TCP sends it again after 1 s, 3 s, 7 s … (initial RTO
 * `synRetransmitMs`, doubling) until the SDK's connect timeout. A connection
 * the node gets to only after its client gave up costs the node its teardown
 * (`closeCpuMs`), not a sign-in; every session its peer closes at once (a
 * drop, a reset) costs the same when the node reads the close. A push
 * leaves the node once its CPU has got to it and spent `pushCpuMs` on it.
 */

import { closeCodeAction, DedupWindow, parseRetryAfterMs, reconnectDelayMs } from '../client/policy.js';
import type { BackoffPolicy } from '../core/backoff.js';
import type { Random } from '../core/clock.js';
import type { GatewayCore } from '../core/gateway.js';
import type { ClientFrame, HelloFrame, Platform, ServerFrame } from '../core/protocol.js';
import { CloseNotice, Ev, FIN, SimConn, type SimNetwork } from './network.js';
import type { VirtualScheduler } from './virtual-clock.js';

export const ClientState = { IDLE: 0, CONNECTING: 1, AUTH: 2, OPEN: 3, STOPPED: 4 } as const;

export interface SimNodeHandle {
  index: number;
  ezone: string;
  gateway: GatewayCore;
  dead: boolean;
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
  /**
   * The part of `signInCpuMs` that is the hello (token, session, route, welcome), done when the
   * hello arrives, a round trip after the upgrade; the rest is the accept and the WebSocket upgrade.
   * 0 or unset: the whole sign-in is done at the accept, the hello with it.
   */
  helloShare?: number;
  frameCpuMs: number;
  /** Node CPU to tear down a connection its peer closed or abandoned (ms; 0 = not charged). */
  closeCpuMs?: number;
  /** Node CPU per push delivered with its ACK (ms; 0 = not charged). */
  pushCpuMs?: number;
}

/** Costs the population charges to the nodes beyond sign-ins and frames; wiring may set them after construction. */
export interface ServerCosts {
  closeCpuMs: number;
  pushCpuMs: number;
}

/**
 * Clients that are not phones but sockets of a load tool (`taco load`): they
 * live in `processes` processes (equal slices of the population, in order),
 * and each process starts its clients' connect attempts one at a time,
 * `attemptMs` apart at most (its own event loop: the close it reads, the new
 * socket, the handshake request). Only the agreement test sets it.
 */
export interface LoadRig {
  processes: number;
  attemptMs: number;
}

/** `synArrives` results that are not a completion time. */
const SYN_DROPPED = -1;
const SYN_ABANDONED = -2;
/**
 * Ready sockets a libuv loop takes from one epoll_wait (uv__io_poll's event
 * array): a busy node gets back to its listening socket, and accepts what
 * waits there, at least every this many pieces of work.
 */
const EPOLL_BATCH = 1024;

export interface ClientObserver {
  onOnline(c: number, recoveryMs: number | undefined): void;
  onOffline(c: number): void;
  onConnectAttempt(c: number): void;
  /** A first copy reached client c; `arrivedAt` is when it was due, before millisecond rounding. */
  onPushShown(c: number, id: string, ts: number, arrivedAt: number): void;
  onDuplicate(c: number): void;
  onSignInRejected(c: number, code: number): void;
}

const PING: ClientFrame = { op: 'ping' };

/**
 * One row per client in one buffer, 64 bytes (8 float64 slots): the fields an event reads sit
 * together, so handling an event touches one or two cache lines instead of one per field (a field
 * per typed array meant ~10 cache misses per event at 1.6M clients).
 */
const STRIDE = 8;
const ROW_BYTES = STRIDE * 8;
/** Float64 slots. Slot 0 is free: the heartbeat's due time lives on the connection (SimConn.heartbeatAt). */
/** Due time of the one pending state timer (connect, timeout, dead); events at other times are stale. */
const TIMER_AT = 1;
// Slot 2 holds the small fields, by byte (B_*) and, for the node index, by int16.
const LOST_AT = 3;
const RETRY_FLOOR = 4;
const DNS_EXPIRES = 5;
/** When the connect attempt in progress gives up (the SDK's connect timeout), while it signs in. */
const CONNECT_DEADLINE = 6;
/** When the SYN in flight was sent (its retransmission timer runs from then). */
const SYN_SENT_AT = 7;
const B_STATE = 16;
const B_ATTEMPT = 17;
const B_REGION = 18;
/** The ezone index of the cached DNS answer; -1 when none (int8). */
const B_DNS_EZONE = 19;
const B_POLICY = 20;
/** SYNs of the current connect attempt the listen queue dropped. */
const B_SYN_TRIES = 21;
/** The node of the connect attempt in progress; -1 when none (int16 index, byte 22). */
const I16_PENDING_NODE = 11;

export class ClientPopulation {
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  private readonly i8: Int8Array;
  private readonly i16: Int16Array;
  /** Per node (by index): end of the round in progress, end of the work accepted for the next one, listen queue length. */
  private readonly roundEnd: Float64Array;
  private readonly nextEnd: Float64Array;
  private readonly backlog: Int32Array;
  /** Per node: work queued since the last listen-queue drain, and the drains to come (every EPOLL_BATCH pieces). */
  private readonly sinceAccept: Int32Array;
  private readonly acceptAt: number[][];
  private readonly acceptHead: Int32Array;
  /**
   * Per node: when each connection waiting there (in the listen queue or accepted and not yet signed
   * in) will have been served, in order (a node serves in order, so the ends only grow).
   */
  private readonly waitingEnds: number[][];
  private readonly waitingHead: Int32Array;
  readonly costs: ServerCosts;
  private rig: LoadRig | undefined;
  /** Per load process: when its loop turn in progress ends, and when the attempts taken on for the next are started. */
  private rigRoundEnd: Float64Array | undefined;
  private rigNextEnd: Float64Array | undefined;
  /** Node CPU for the accept and upgrade, and for the hello (see `helloShare`). */
  private readonly upgradeCpuMs: number;
  private readonly helloCpuMs: number;
  /** SYNs dropped on a full listen queue (the kernel's ListenOverflows), over the run. */
  synDropped = 0;
  /** Connections accepted after their client had given up (each cost a teardown, not a sign-in). */
  abandonedInQueue = 0;
  readonly conns: (SimConn | undefined)[];
  private readonly policies: BackoffPolicy[];
  private readonly policyKeys = new Map<string, number>();
  /** The SDK's dedup, one window over the population (message ids are globally unique). */
  readonly dedup: DedupWindow;
  online = 0;
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
    const rows = new ArrayBuffer(n * ROW_BYTES);
    this.f64 = new Float64Array(rows);
    this.u8 = new Uint8Array(rows);
    this.i8 = new Int8Array(rows);
    this.i16 = new Int16Array(rows);
    for (let c = 0; c < n; c++) {
      this.f64[c * STRIDE + TIMER_AT] = Number.NaN;
      this.f64[c * STRIDE + LOST_AT] = Number.NaN;
      this.i8[c * ROW_BYTES + B_DNS_EZONE] = -1;
      this.i16[c * (ROW_BYTES / 2) + I16_PENDING_NODE] = -1;
    }
    this.roundEnd = new Float64Array(nodes.length);
    this.nextEnd = new Float64Array(nodes.length);
    this.backlog = new Int32Array(nodes.length);
    this.sinceAccept = new Int32Array(nodes.length);
    this.acceptAt = nodes.map(() => []);
    this.acceptHead = new Int32Array(nodes.length);
    this.waitingEnds = nodes.map(() => []);
    this.waitingHead = new Int32Array(nodes.length);
    this.costs = { closeCpuMs: p.closeCpuMs ?? 0, pushCpuMs: p.pushCpuMs ?? 0 };
    const helloShare = Math.min(1, Math.max(0, p.helloShare ?? 0));
    this.helloCpuMs = p.signInCpuMs * helloShare;
    this.upgradeCpuMs = helloShare > 0 ? p.signInCpuMs - this.helloCpuMs : p.signInCpuMs;
    // Every push waits for its node's CPU and costs it `pushCpuMs` (the node's rounds, see synArrives).
    net.pushWork = (node, now) => this.work(node, now, this.costs.pushCpuMs);
    this.conns = new Array(n);
    this.policies = [p.reconnect];
    this.dedup = new DedupWindow(Math.max(1024, Math.min(8_000_000, n * 4)));
    this.rnd = () => random.next();
    for (let i = 0; i < n; i++) this.u8[i * ROW_BYTES + B_REGION] = p.regionOf(i);
    clock.onTyped = (kind, target, ref, payload) => this.onEvent(kind, target, ref, payload);
  }

  /** Region of client c: index into `regions`. */
  regionOf(c: number): number {
    return this.u8[c * ROW_BYTES + B_REGION]!;
  }

  stateOf(c: number): number {
    return this.u8[c * ROW_BYTES + B_STATE]!;
  }

  /** Initial connects spread uniformly over `rampMs`. */
  start(rampMs: number): void {
    const now = this.clock.now();
    for (let c = 0; c < this.p.count; c++) {
      const at = now + Math.floor(this.rnd() * rampMs);
      this.f64[c * STRIDE + TIMER_AT] = at;
      this.clock.at(at, Ev.CONNECT, c);
    }
  }

  private onEvent(kind: number, c: number, ref: unknown, payload: unknown): void {
    switch (kind) {
      case Ev.CONNECT:
        if (this.dueWhile(c, ClientState.IDLE)) {
          if (this.rig) this.queueOnRig(c);
          else this.connect(c);
        }
        return;
      case Ev.RIG_START:
        if (this.dueWhile(c, ClientState.IDLE)) this.connect(c);
        return;
      case Ev.UPGRADED:
        if (this.dueWhile(c, ClientState.CONNECTING)) this.upgraded(c);
        return;
      case Ev.SYN_IN:
        if (this.dueWhile(c, ClientState.CONNECTING)) this.synIn(c);
        return;
      case Ev.HELLO_IN:
        if (this.dueWhile(c, ClientState.CONNECTING)) this.helloIn(c);
        return;
      case Ev.ARRIVE_AT_GATEWAY:
        if (this.dueWhile(c, ClientState.CONNECTING)) this.arrive(c);
        return;
      case Ev.SYN_RETRY:
        if (this.dueWhile(c, ClientState.CONNECTING)) this.syn(c);
        return;
      case Ev.CONNECT_TIMEOUT:
        if (
          this.f64[c * STRIDE + TIMER_AT] === this.clock.now() &&
          (this.u8[c * ROW_BYTES + B_STATE] === ClientState.CONNECTING ||
            this.u8[c * ROW_BYTES + B_STATE] === ClientState.AUTH)
        ) {
          this.abandon(c);
          this.scheduleReconnect(c, 0);
        }
        return;
      case Ev.HEARTBEAT: {
        // The event carries its connection, whose due time is set only while the client is OPEN
        // on it (wentOffline clears it): the client's row is not read on this, the commonest event.
        const conn = ref as SimConn;
        if (conn.heartbeatAt === this.clock.now()) this.heartbeat(c, conn);
        return;
      }
      case Ev.DEAD:
        if (this.dueWhile(c, ClientState.OPEN)) {
          this.abandon(c);
          this.wentOffline(c);
          this.scheduleReconnect(c, 0);
        }
        return;
      case Ev.DOWNLINK:
        this.downlink(c, ref as SimConn, payload as ServerFrame | CloseNotice);
        return;
      case Ev.UPLINK:
        this.uplink(ref as SimConn, payload as ClientFrame | typeof FIN);
        return;
    }
  }

  /** Is client c's one state timer due now, with the client still in `state` (else the event is stale)? */
  private dueWhile(c: number, state: number): boolean {
    return this.f64[c * STRIDE + TIMER_AT] === this.clock.now() && this.u8[c * ROW_BYTES + B_STATE] === state;
  }

  /** Simulates the clients as load-tool sockets in processes (see LoadRig); before `start`. */
  setLoadRig(rig: LoadRig): void {
    this.rig = rig;
    this.rigRoundEnd = new Float64Array(rig.processes);
    this.rigNextEnd = new Float64Array(rig.processes);
  }

  private rigProcessOf(c: number): number {
    const n = this.rig!.processes;
    return Math.min(n - 1, Math.floor((c * n) / this.p.count));
  }

  /** A load process starts the attempt when it gets to it: in its next loop turn if it is busy. */
  private queueOnRig(c: number): void {
    const attemptMs = this.rig!.attemptMs;
    const p = this.rigProcessOf(c);
    const now = this.clock.now();
    const roundEnd = this.rigRoundEnd!;
    const nextEnd = this.rigNextEnd!;
    this.rollRig(p, now);
    let at: number;
    if (now >= roundEnd[p]!) {
      at = now;
      roundEnd[p] = now + attemptMs;
    } else at = nextEnd[p]!;
    nextEnd[p] = at + attemptMs;
    if (at <= now) this.connect(c);
    else this.armTimer(c, at, Ev.RIG_START);
  }

  /** A load process's turn that has ended hands over to the next, which runs what came due during it. */
  private rollRig(p: number, t: number): void {
    const roundEnd = this.rigRoundEnd!;
    const nextEnd = this.rigNextEnd!;
    if (t >= roundEnd[p]! && nextEnd[p]! > roundEnd[p]!) roundEnd[p] = nextEnd[p]!;
  }

  /**
   * When load process p's loop turn in progress at t ends, i.e. when it reads its sockets again
   * (t itself when it is idle). Node runs the timers due at a turn's start and then polls, so a
   * busy process's turns grow with its backlog and its sockets wait for them.
   */
  private rigTurnEnd(p: number, t: number): number {
    this.rollRig(p, t);
    return Math.max(t, this.rigRoundEnd![p]!);
  }

  private resolveEzone(c: number): string {
    const now = this.clock.now();
    if (this.i8[c * ROW_BYTES + B_DNS_EZONE]! < 0 || this.f64[c * STRIDE + DNS_EXPIRES]! <= now) {
      const region = this.p.regions[this.u8[c * ROW_BYTES + B_REGION]!]!;
      const ez = this.net.dns.get(region) ?? region;
      this.i8[c * ROW_BYTES + B_DNS_EZONE] = this.ezones.indexOf(ez);
      this.f64[c * STRIDE + DNS_EXPIRES] = now + this.net.dnsTtlMs;
    }
    return this.ezones[this.i8[c * ROW_BYTES + B_DNS_EZONE]!]!;
  }

  private connect(c: number): void {
    const now = this.clock.now();
    this.u8[c * ROW_BYTES + B_STATE] = ClientState.CONNECTING;
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
    this.i16[c * (ROW_BYTES / 2) + I16_PENDING_NODE] = node.index;
    this.u8[c * ROW_BYTES + B_SYN_TRIES] = 0;
    this.syn(c);
  }

  /**
   * Sends the attempt's SYN (again, after `synTries` drops). The attempt
   * started `synRetransmitMs·(2^tries − 1)` ago: TCP doubles its timeout.
   */
  private syn(c: number): void {
    const now = this.clock.now();
    const node = this.nodes[this.i16[c * (ROW_BYTES / 2) + I16_PENDING_NODE]!]!;
    const tries = this.u8[c * ROW_BYTES + B_SYN_TRIES]!;
    const rto = this.net.synRetransmitMs;
    const deadline = now - rto * (2 ** tries - 1) + this.p.connectTimeoutMs;
    if (node.dead || this.net.isCut(node.ezone)) {
      this.armTimer(c, node.dead ? now + 2 * this.net.oneWayMs() : deadline, Ev.CONNECT_TIMEOUT);
      return;
    }
    // The node meets the SYN when it arrives: work booked ahead of time would keep it busy meanwhile.
    this.f64[c * STRIDE + CONNECT_DEADLINE] = deadline;
    this.f64[c * STRIDE + SYN_SENT_AT] = now;
    this.armTimer(c, now + this.net.oneWayMs(), Ev.SYN_IN);
  }

  /** The SYN reaches the node: the listen queue takes it, or drops it and TCP sends it again. */
  private synIn(c: number): void {
    const now = this.clock.now();
    const node = this.nodes[this.i16[c * (ROW_BYTES / 2) + I16_PENDING_NODE]!]!;
    const tries = this.u8[c * ROW_BYTES + B_SYN_TRIES]!;
    const rto = this.net.synRetransmitMs;
    const deadline = this.f64[c * STRIDE + CONNECT_DEADLINE]!;
    if (this.unreachable(c, node, now, deadline)) return;
    const done = this.synArrives(node.index, now, deadline);
    if (done === SYN_DROPPED) {
      this.synDropped++;
      const next = this.f64[c * STRIDE + SYN_SENT_AT]! + rto * 2 ** tries;
      if (tries < 30) this.u8[c * ROW_BYTES + B_SYN_TRIES] = tries + 1;
      this.armTimer(c, Math.min(next, deadline), next < deadline ? Ev.SYN_RETRY : Ev.CONNECT_TIMEOUT);
      return;
    }
    // Served too late (or not at all): the SDK has given up by then.
    if (done === SYN_ABANDONED || done > deadline) {
      this.armTimer(c, deadline, Ev.CONNECT_TIMEOUT);
      return;
    }
    if (this.helloCpuMs > 0) {
      // The 101 goes back; the client answers with its hello (upgraded).
      this.armTimer(c, done + this.net.oneWayMs(), Ev.UPGRADED);
      return;
    }
    this.armTimer(c, done, Ev.ARRIVE_AT_GATEWAY);
  }

  /**
   * The upgrade's answer reached the client, which sends its hello; the node signs it in when it
   * gets to it. A load process busy starting other clients' attempts answers only once it has
   * started them all: Node runs every timer that is due before it reads its sockets again, so a
   * storm's hellos leave a loaded process late and together.
   */
  private upgraded(c: number): void {
    const now = this.clock.now();
    let sendAt = now;
    if (this.rig) sendAt = this.rigTurnEnd(this.rigProcessOf(c), now);
    const deadline = this.f64[c * STRIDE + CONNECT_DEADLINE]!;
    const at = sendAt + this.net.oneWayMs();
    if (at > deadline) this.armTimer(c, deadline, Ev.CONNECT_TIMEOUT);
    else this.armTimer(c, at, Ev.HELLO_IN);
  }

  /**
   * A SYN or hello reaching a node that died (a reset comes back) or an ezone cut off (silence
   * until the connect timeout) fails the attempt; true when it did.
   */
  private unreachable(c: number, node: SimNodeHandle, now: number, deadline: number): boolean {
    if (!node.dead && !this.net.isCut(node.ezone)) return false;
    this.armTimer(c, node.dead ? now + this.net.oneWayMs() : deadline, Ev.CONNECT_TIMEOUT);
    return true;
  }

  /** The hello reaches the node, which signs the client in when it gets to it. */
  private helloIn(c: number): void {
    const now = this.clock.now();
    const deadline = this.f64[c * STRIDE + CONNECT_DEADLINE]!;
    const node = this.nodes[this.i16[c * (ROW_BYTES / 2) + I16_PENDING_NODE]!]!;
    if (this.unreachable(c, node, now, deadline)) return;
    const done = this.work(node.index, now, this.helloCpuMs);
    if (done > deadline) this.armTimer(c, deadline, Ev.CONNECT_TIMEOUT);
    else this.armTimer(c, done, Ev.ARRIVE_AT_GATEWAY);
  }

  /** Brings node n's rounds forward to time t: a round that has ended hands over to the one it accepted. */
  private roll(n: number, t: number): void {
    if (t >= this.roundEnd[n]! && this.nextEnd[n]! > this.roundEnd[n]!) {
      this.roundEnd[n] = this.nextEnd[n]!;
      this.backlog[n] = 0;
    }
    const drains = this.acceptAt[n]!;
    let head = this.acceptHead[n]!;
    if (head < drains.length && drains[head]! <= t) {
      while (head < drains.length && drains[head]! <= t) head++;
      this.backlog[n] = 0;
      if (head === drains.length) {
        drains.length = 0;
        head = 0;
      }
      this.acceptHead[n] = head;
    }
  }

  /** A piece of work queued on node n, done at `end`; `fresh` when it starts an idle node's round. */
  private queued(n: number, end: number, fresh: boolean): void {
    if (fresh) this.sinceAccept[n] = 0;
    if (++this.sinceAccept[n]! >= EPOLL_BATCH) {
      this.sinceAccept[n] = 0;
      this.acceptAt[n]!.push(end);
    }
  }

  /** Work of `cpuMs` that becomes ready on node n at t (a frame read, closes); returns when it is done. */
  private work(n: number, t: number, cpuMs: number): number {
    if (cpuMs <= 0) return t;
    this.roll(n, t);
    let end: number;
    const idle = t >= this.roundEnd[n]!;
    if (idle) {
      end = t + cpuMs;
      this.roundEnd[n] = end;
    } else end = this.nextEnd[n]! + cpuMs;
    this.nextEnd[n] = end;
    this.queued(n, end, idle);
    return end;
  }

  /**
   * A SYN reaches node n at t. An idle node accepts it at once; a busy one
   * leaves it in the listen queue until its round ends or the node next polls
   * (every EPOLL_BATCH pieces of work; dropped when the queue is full), and
   * upgrades it during the next round, after the work accepted before it.
   * Returns when that is done, or SYN_DROPPED, or SYN_ABANDONED when the node
   * gets to it only after `deadline`.
   */
  private synArrives(n: number, t: number, deadline: number): number {
    this.roll(n, t);
    const idle = t >= this.roundEnd[n]!;
    let start = t;
    if (!idle) {
      if (this.backlog[n]! >= this.net.listenBacklog) return SYN_DROPPED;
      this.backlog[n]!++;
      start = this.nextEnd[n]!;
    }
    const abandoned = start > deadline;
    const end = start + (abandoned ? this.costs.closeCpuMs : this.upgradeCpuMs);
    if (idle) this.roundEnd[n] = end;
    this.nextEnd[n] = end;
    this.queued(n, end, idle);
    this.waitingUntil(n, t, end);
    if (abandoned) {
      this.abandonedInQueue++;
      return SYN_ABANDONED;
    }
    return end;
  }

  /** A connection reached node n at t and waits there until `end`. */
  private waitingUntil(n: number, t: number, end: number): void {
    this.waitingAt(n, t);
    this.waitingEnds[n]!.push(end);
  }

  /** Connections waiting at node n at time t (listen queue, or accepted and not yet signed in). */
  waitingAt(n: number, t: number): number {
    const ends = this.waitingEnds[n]!;
    let head = this.waitingHead[n]!;
    while (head < ends.length && ends[head]! <= t) head++;
    if (head === ends.length) {
      ends.length = 0;
      head = 0;
    } else if (head > 4096 && head * 2 > ends.length) {
      ends.splice(0, head);
      head = 0;
    }
    this.waitingHead[n] = head;
    return ends.length - head;
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
    const node = this.nodes[this.i16[c * (ROW_BYTES / 2) + I16_PENDING_NODE]!]!;
    if (node.dead || this.net.isCut(node.ezone)) {
      this.armTimer(c, this.clock.now() + this.p.connectTimeoutMs, Ev.CONNECT_TIMEOUT);
      return;
    }
    const conn = new SimConn(c, node.index, node.ezone, this.net, this.clock);
    this.conns[c] = conn;
    this.u8[c * ROW_BYTES + B_STATE] = ClientState.AUTH;
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
    this.f64[c * STRIDE + TIMER_AT] = t;
    this.clock.at(t, kind, c);
  }

  private heartbeat(c: number, conn: SimConn): void {
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
      conn.heartbeatAt = Number.NaN;
      return;
    }
    this.work(node.index, now, this.p.frameCpuMs);
    node.gateway.frame(conn.session!, PING);
    this.scheduleHeartbeat(c, conn);
  }

  private scheduleHeartbeat(c: number, conn: SimConn): void {
    const at = this.clock.now() + this.p.heartbeatSec * 1000;
    conn.heartbeatAt = at;
    this.clock.at(at, Ev.HEARTBEAT, c, conn);
  }

  /** A frame reaches the client, unless it has given up on that connection (a replaced one always has). */
  private downlink(c: number, conn: SimConn, frame: ServerFrame | CloseNotice): void {
    if (conn.clientGone) return;
    if (frame instanceof CloseNotice) {
      this.closed(c, frame.code, frame.reason);
      return;
    }
    this.onFrame(c, conn, frame);
  }

  private onFrame(c: number, conn: SimConn, f: ServerFrame): void {
    switch (f.op) {
      case 'welcome': {
        this.u8[c * ROW_BYTES + B_STATE] = ClientState.OPEN;
        this.u8[c * ROW_BYTES + B_ATTEMPT] = 0;
        this.f64[c * STRIDE + RETRY_FLOOR] = 0;
        this.f64[c * STRIDE + TIMER_AT] = Number.NaN;
        if (f.reconnect) this.u8[c * ROW_BYTES + B_POLICY] = this.policyIndex(f.reconnect);
        const lost = this.f64[c * STRIDE + LOST_AT]!;
        this.f64[c * STRIDE + LOST_AT] = Number.NaN;
        this.online++;
        this.observer.onOnline(c, Number.isNaN(lost) ? undefined : this.clock.now() - lost);
        this.scheduleHeartbeat(c, conn);
        return;
      }
      case 'push': {
        if (this.dedup.add(f.id))
          this.observer.onPushShown(c, f.id, f.ts, conn.arrivalTime(this.clock.now()));
        else this.observer.onDuplicate(c);
        // The SDK ACKs every copy, duplicates included.
        conn.sendUp({ op: 'ack', id: f.id, status: 'received' });
        return;
      }
      case 'error':
        if (f.retryAfterMs) this.f64[c * STRIDE + RETRY_FLOOR] = f.retryAfterMs;
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

  /** A frame reaches the gateway of its connection (a FIN too, after the client has moved on). */
  private uplink(conn: SimConn, frame: ClientFrame | typeof FIN): void {
    const node = this.nodes[conn.node]!;
    if (node.dead || this.net.isCut(conn.ezone) || !conn.session) return;
    if (frame === FIN) node.gateway.gone(conn.session);
    else node.gateway.frame(conn.session, frame as ClientFrame);
  }

  /** The server closed our connection (close frame or reset arrived). */
  private closed(c: number, code: number, reason: string): void {
    const wasOpen = this.u8[c * ROW_BYTES + B_STATE] === ClientState.OPEN;
    const conn = this.conns[c];
    if (conn) conn.clientGone = true;
    if (wasOpen) this.wentOffline(c);
    else if (code === 4503 || code === 4429) this.observer.onSignInRejected(c, code);
    const action = closeCodeAction(code, reason);
    if (action === 'stop') {
      this.u8[c * ROW_BYTES + B_STATE] = ClientState.STOPPED;
      this.f64[c * STRIDE + TIMER_AT] = Number.NaN;
      return;
    }
    // "Moved" or a network error: ask the dispatch DNS again rather than trust the cached answer.
    if (code === 4503 || code === 1006) this.f64[c * STRIDE + DNS_EXPIRES] = 0;
    const floor =
      action === 'reconnect-after' ? (parseRetryAfterMs(reason) ?? 0) : this.f64[c * STRIDE + RETRY_FLOOR]!;
    this.scheduleReconnect(c, floor);
  }

  private wentOffline(c: number): void {
    if (this.u8[c * ROW_BYTES + B_STATE] === ClientState.OPEN) this.online--;
    this.u8[c * ROW_BYTES + B_STATE] = ClientState.IDLE;
    const conn = this.conns[c];
    if (conn) conn.heartbeatAt = Number.NaN;
    if (Number.isNaN(this.f64[c * STRIDE + LOST_AT]!)) this.f64[c * STRIDE + LOST_AT] = this.clock.now();
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
    if (this.u8[c * ROW_BYTES + B_STATE] !== ClientState.OPEN) return;
    const conn = this.conns[c]!;
    const node = this.nodes[conn.node]!;
    if (conn.session && !node.dead && !this.net.isCut(conn.ezone)) node.gateway.peerClosed(conn.session);
    conn.clientGone = true;
    this.wentOffline(c);
    this.f64[c * STRIDE + LOST_AT] = Number.NaN; // an app restart, not an outage: no recovery sample
    this.u8[c * ROW_BYTES + B_STATE] = ClientState.IDLE;
    this.u8[c * ROW_BYTES + B_ATTEMPT] = 0;
    this.armTimer(c, this.clock.now() + comeBackAfterMs, Ev.CONNECT);
  }

  /** The node died or its connections were cut: they reset. A live node then reads every close. */
  resetNode(nodeIndex: number): void {
    let closed = 0;
    for (let c = 0; c < this.p.count; c++) {
      const conn = this.conns[c];
      if (conn && conn.node === nodeIndex && !conn.clientGone && !conn.serverClosed) {
        conn.reset();
        closed++;
      }
    }
    if (!this.nodes[nodeIndex]!.dead) this.work(nodeIndex, this.clock.now(), closed * this.costs.closeCpuMs);
  }

  private scheduleReconnect(c: number, floorMs: number): void {
    const policy = this.policies[this.u8[c * ROW_BYTES + B_POLICY]!]!;
    const delay = reconnectDelayMs(policy, this.u8[c * ROW_BYTES + B_ATTEMPT]!, floorMs, this.rnd);
    if (this.u8[c * ROW_BYTES + B_ATTEMPT]! < 30) this.u8[c * ROW_BYTES + B_ATTEMPT]!++;
    this.u8[c * ROW_BYTES + B_STATE] = ClientState.IDLE;
    this.f64[c * STRIDE + RETRY_FLOOR] = 0;
    this.armTimer(c, this.clock.now() + Math.max(1, delay), Ev.CONNECT);
  }
}
