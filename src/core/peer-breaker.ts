/**
 * A circuit breaker per peer node in front of the node-to-node RPC port.
 *
 * Why: a deadline bounds how long one call waits, not how many wait. When a
 * peer's backend slows (the grpc-stream-quota incident), every delivery to it
 * holds a dispatch consumer for the whole deadline, so a few slow peers
 * throttle the deliveries to every other node and to local sessions too.
 * After `failures` consecutive failed calls to a peer the breaker opens:
 * calls to it fail at once (PEER_UNAVAILABLE, which the dispatcher retries
 * with backoff like any failed delivery) for `openMs`, then one probe call
 * goes through; success closes the breaker, failure reopens it for twice as
 * long, up to `maxOpenMs`.
 *
 * Only transport failures count (deadline, quota, unreachable): a delivery
 * that finds the device offline is a working peer. ACK forwarding goes to an
 * ezone, not a peer node, and passes through unchanged.
 */
import type { Scheduler } from './clock.js';
import { TacoError } from './errors.js';
import type { DeliverRequest, DeliverResult, PeerRpc, Telemetry } from './ports.js';

export interface PeerBreakerConfig {
  /** Consecutive failed calls that open a peer's breaker; 0 turns the breaker off. */
  failures: number;
  /** How long a freshly opened breaker fails calls before its first probe. */
  openMs: number;
  /** Upper bound of the open time, which doubles with each failed probe. */
  maxOpenMs: number;
}

const TRANSPORT_FAILURES = new Set(['DEADLINE_EXCEEDED', 'QUOTA_EXHAUSTED', 'ENGINE_UNAVAILABLE']);

/** Whether an RPC error says the peer is unhealthy (rather than the request being bad). */
export function isTransportFailure(e: unknown): boolean {
  return e instanceof TacoError && TRANSPORT_FAILURES.has(e.code);
}

interface PeerState {
  /** Consecutive transport failures while closed. */
  failures: number;
  /** 0 while closed; otherwise until when calls fail fast. */
  openUntil: number;
  openMs: number;
  /** A probe call is in flight (half-open): other calls keep failing fast. */
  probing: boolean;
}

export class PeerBreaker implements PeerRpc {
  private readonly peers = new Map<number, PeerState>();

  constructor(
    private readonly inner: PeerRpc,
    private readonly clock: Pick<Scheduler, 'now'>,
    private readonly cfg: PeerBreakerConfig,
    private readonly telemetry: Telemetry,
  ) {}

  /** Peers whose breaker is open or probing (operations, tests). */
  get openPeers(): number[] {
    const out: number[] = [];
    for (const [node, s] of this.peers) if (s.openUntil > 0) out.push(node);
    return out;
  }

  deliver(node: number, req: DeliverRequest, deadlineMs: number): Promise<DeliverResult> {
    let s = this.peers.get(node);
    if (!s) {
      s = { failures: 0, openUntil: 0, openMs: this.cfg.openMs, probing: false };
      this.peers.set(node, s);
    }
    let probe = false;
    if (s.openUntil > 0) {
      if (s.probing || this.clock.now() < s.openUntil) {
        this.telemetry.count('rpc.breaker_rejected');
        return Promise.reject(
          new TacoError('PEER_UNAVAILABLE', `node ${node} is failing; calls to it are paused`, { node }),
        );
      }
      probe = true;
      s.probing = true;
    }
    const state = s;
    return this.inner.deliver(node, req, deadlineMs).then(
      (r) => {
        this.succeeded(state, probe);
        return r;
      },
      (e: unknown) => {
        this.failed(state, probe, e);
        throw e;
      },
    );
  }

  private succeeded(s: PeerState, probe: boolean): void {
    s.failures = 0;
    if (probe) {
      s.probing = false;
      s.openUntil = 0;
      s.openMs = this.cfg.openMs;
      this.telemetry.count('rpc.breaker_closed');
    }
  }

  private failed(s: PeerState, probe: boolean, e: unknown): void {
    if (probe) {
      s.probing = false;
      // A probe that failed for the request's own sake still proves nothing about the peer.
      if (!isTransportFailure(e)) return;
      s.openMs = Math.min(this.cfg.maxOpenMs, s.openMs * 2);
      s.openUntil = this.clock.now() + s.openMs;
      return;
    }
    if (!isTransportFailure(e) || s.openUntil > 0) return;
    if (++s.failures >= this.cfg.failures) {
      s.failures = 0;
      s.openMs = this.cfg.openMs;
      s.openUntil = this.clock.now() + s.openMs;
      this.telemetry.count('rpc.breaker_open');
    }
  }

  forwardAck(
    ezone: string,
    ack: { app: string; id: string; status: string; at: number },
    deadlineMs: number,
  ): Promise<void> {
    return this.inner.forwardAck(ezone, ack, deadlineMs);
  }
}
