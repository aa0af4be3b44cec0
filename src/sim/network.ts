/**
 * The simulated network between clients and gateway nodes: per-link latency,
 * ezone cuts (both directions), DNS with client-side caching, and the
 * ClientConnection port the core's gateway writes to. Frames on one
 * connection arrive in order (TCP), each at max(previous, now + latency).
 * A frame in flight is the payload of its arrival event (DOWNLINK, UPLINK),
 * which also names its connection: no queue per connection.
 */
import type { Random } from '../core/clock.js';
import type { ClientConnection, Session } from '../core/gateway.js';
import type { ClientFrame, ServerFrame } from '../core/protocol.js';
import type { VirtualScheduler } from './virtual-clock.js';

/** Typed event kinds used by the client population (see clients.ts). */
export const Ev = {
  CONNECT: 1,
  ARRIVE_AT_GATEWAY: 2,
  HEARTBEAT: 3,
  DOWNLINK: 4,
  UPLINK: 5,
  DEAD: 6,
  CONNECT_TIMEOUT: 7,
  SYN_RETRY: 8,
  RIG_START: 9,
  UPGRADED: 10,
  HELLO_IN: 11,
  SYN_IN: 12,
} as const;

export interface LinkParams {
  rttMs: number;
  jitterMs: number;
  /** A measured one-way distribution ([quantile, ms] points ending at 1) that replaces rtt/2 + jitter. */
  oneWayQuantiles?: readonly (readonly [number, number])[] | undefined;
  /** Connections a gateway's listen queue holds (min of the backlog asked for and somaxconn). */
  listenBacklog?: number;
  /** TCP's initial SYN retransmission timeout; it doubles with each retry. */
  synRetransmitMs?: number;
}

/** Linux: somaxconn's default since 5.4 and the backlog `taco serve` asks for is larger. */
export const DEFAULT_LISTEN_BACKLOG = 4096;
/** Linux TCP_TIMEOUT_INIT (RFC 6298): SYN retries after 1 s, 3 s, 7 s, 15 s … */
export const DEFAULT_SYN_RETRANSMIT_MS = 1000;

export class SimNetwork {
  /** Ezones cut off from clients (network-cut fault). */
  readonly cut = new Set<string>();
  /** region → ezone answer of the dispatch DNS. */
  readonly dns = new Map<string, string>();
  dnsTtlMs = 60_000;
  readonly listenBacklog: number;
  readonly synRetransmitMs: number;
  /**
   * The node's CPU for a push about to be written at `now` on node `node`:
   * returns when the node has done it (it waits behind the node's other
   * work). Set by the client population; unset, a push leaves at once.
   */
  pushWork: ((node: number, now: number) => number) | undefined;

  constructor(
    _clock: VirtualScheduler,
    private readonly random: Random,
    private readonly p: LinkParams,
  ) {
    this.listenBacklog = p.listenBacklog ?? DEFAULT_LISTEN_BACKLOG;
    this.synRetransmitMs = p.synRetransmitMs ?? DEFAULT_SYN_RETRANSMIT_MS;
  }

  isCut(ezone: string): boolean {
    return this.cut.size > 0 && this.cut.has(ezone);
  }

  /** One-way latency sample (one draw from the world's random source either way). */
  oneWayMs(): number {
    const q = this.p.oneWayQuantiles;
    if (q) return sampleQuantiles(q, this.random.next());
    return this.p.rttMs / 2 + this.random.next() * this.p.jitterMs;
  }
}

/**
 * The inverse of a distribution given as [quantile, value] points (rising, the last at 1),
 * linear between them and from (0, 0): `u` uniform in [0, 1) gives a sample.
 */
export function sampleQuantiles(points: readonly (readonly [number, number])[], u: number): number {
  let q0 = 0;
  let v0 = 0;
  for (const [q1, v1] of points) {
    if (u <= q1) return q1 === q0 ? v1 : v0 + ((v1 - v0) * (u - q0)) / (q1 - q0);
    q0 = q1;
    v0 = v1;
  }
  return v0;
}

/** The server's close frame (or a reset) in flight to the client. */
export class CloseNotice {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {}
}

/** The client's FIN in flight to the gateway. */
export const FIN = { op: 'fin' } as const;

/**
 * One simulated TCP/WebSocket connection between client `client` and node
 * `node`. The gateway core holds it as its ClientConnection.
 */
export class SimConn implements ClientConnection {
  session: Session | undefined;
  /** Arrival of the last frame sent each way: the next one cannot overtake it. */
  private lastDownAt = 0;
  private lastUpAt = 0;
  /** Closed by the server (close frame queued) or reset. */
  serverClosed = false;
  /** The client side is gone (it decided the link is dead, or it was reset). */
  clientGone = false;
  /** When the client's next heartbeat on this connection is due; NaN when none is (not OPEN on it). */
  heartbeatAt = Number.NaN;

  constructor(
    readonly client: number,
    readonly node: number,
    readonly ezone: string,
    private readonly net: SimNetwork,
    private readonly clock: VirtualScheduler,
  ) {}

  /** Gateway → client. Lost while the ezone is cut; dropped for pongs nobody waits for. */
  send(frame: ServerFrame): void {
    if (this.serverClosed || this.clientGone || this.net.isCut(this.ezone)) return;
    if (frame.op === 'pong') return; // the simulated SDK detects dead links by the cut itself (see clients.ts)
    // A push leaves once the node's CPU has got to it (and done it).
    const from =
      frame.op === 'push' && this.net.pushWork ? this.net.pushWork(this.node, this.clock.now()) : 0;
    this.enqueueDown(frame, from);
  }

  /** A pong nobody waits for: dropped, as `send` drops a pong frame (see clients.ts). */
  pong(_ts: number): void {}

  /**
   * When a frame arriving now was due, before the clock's whole-millisecond
   * buckets rounded it up: exact for the last frame sent on this connection,
   * `now` for an earlier one still in flight behind it.
   */
  arrivalTime(now: number): number {
    return Math.ceil(this.lastDownAt) === now ? this.lastDownAt : now;
  }

  close(code: number, reason: string): void {
    if (this.serverClosed) return;
    this.serverClosed = true;
    if (this.clientGone || this.net.isCut(this.ezone)) return;
    this.enqueueDown(new CloseNotice(code, reason));
  }

  /** A crash or reset: the client learns at once-ish (RST), nothing more is delivered. */
  reset(): void {
    if (this.serverClosed) return;
    this.serverClosed = true;
    if (this.clientGone || this.net.isCut(this.ezone)) return;
    this.enqueueDown(new CloseNotice(1006, 'connection reset'));
  }

  private enqueueDown(frame: ServerFrame | CloseNotice, from = 0): void {
    const at = Math.max(this.lastDownAt, Math.max(from, this.clock.now()) + this.net.oneWayMs());
    this.lastDownAt = at;
    this.clock.at(at, Ev.DOWNLINK, this.client, this, frame);
  }

  /** Client → gateway. Returns false when the frame is lost (ezone cut). */
  sendUp(frame: ClientFrame | null): boolean {
    if (this.clientGone || this.net.isCut(this.ezone)) return false;
    const at = Math.max(this.lastUpAt, this.clock.now() + this.net.oneWayMs());
    this.lastUpAt = at;
    this.clock.at(at, Ev.UPLINK, this.client, this, frame ?? FIN);
    return true;
  }
}
