/**
 * Simulated internal gRPC between nodes, with the limit behind the
 * grpc-stream-quota incident: at most `maxConcurrentStreams` calls are active
 * per peer; further calls wait (as HTTP/2 makes them wait) until a stream
 * frees, their deadline passes (DEADLINE_EXCEEDED), or — when the caller
 * bounds them — the per-peer pending bound is hit (QUOTA_EXHAUSTED).
 * Memory held by waiting calls is what exploded in the incident.
 */
import type { Scheduler, TimerHandle } from '../../core/clock.js';
import { TacoError } from '../../core/errors.js';
import type { DeliverRequest, DeliverResult, PeerRpc } from '../../core/ports.js';

export interface SimRpcParams {
  maxConcurrentStreams: number;
  maxPendingPerPeer: number;
  latencyMs: number;
}

interface Call {
  req: DeliverRequest;
  resolve: (r: DeliverResult) => void;
  reject: (e: Error) => void;
  deadline: TimerHandle | undefined;
  done: boolean;
}

class Peer {
  active = 0;
  waiting: Call[] = [];
  head = 0;
  get waitingCount() {
    return this.waiting.length - this.head;
  }
}

export class SimRpc implements PeerRpc {
  private readonly peers = new Map<number, Peer>();
  /** Extra latency per call (the slow-backend fault). */
  slowdownMs = 0;
  timeouts = 0;
  quotaRejections = 0;
  quotaHits = 0;

  constructor(
    private readonly clock: Scheduler,
    private readonly p: SimRpcParams,
    /** The server side: deliver on the target node, or undefined if that node is down. */
    private readonly serve: (node: number, req: DeliverRequest) => DeliverResult | undefined,
  ) {}

  get pendingCalls(): number {
    let n = 0;
    for (const p of this.peers.values()) n += p.active + p.waitingCount;
    return n;
  }

  private peer(node: number): Peer {
    let p = this.peers.get(node);
    if (!p) this.peers.set(node, (p = new Peer()));
    return p;
  }

  deliver(node: number, req: DeliverRequest, deadlineMs: number): Promise<DeliverResult> {
    const peer = this.peer(node);
    if (peer.waitingCount >= this.p.maxPendingPerPeer) {
      this.quotaRejections++;
      return Promise.reject(
        new TacoError(
          'QUOTA_EXHAUSTED',
          `more than ${this.p.maxPendingPerPeer} calls pending to node ${node}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const call: Call = { req, resolve, reject, deadline: undefined, done: false };
      const bounded = Number.isFinite(deadlineMs);
      if (peer.active < this.p.maxConcurrentStreams) {
        // A call that takes a stream at once ends at start + latency (fixed when it starts): it needs
        // a deadline timer only when that is later than its deadline.
        if (bounded && this.p.latencyMs + this.slowdownMs >= deadlineMs)
          call.deadline = this.armDeadline(node, call, deadlineMs);
        this.start(node, peer, call);
      } else {
        if (bounded) call.deadline = this.armDeadline(node, call, deadlineMs);
        this.quotaHits++;
        peer.waiting.push(call);
      }
    });
  }

  /** The call's deadline timer (a closure only for the calls that need one). */
  private armDeadline(node: number, call: Call, deadlineMs: number): TimerHandle {
    return this.clock.setTimeout(() => {
      if (call.done) return;
      call.done = true;
      this.timeouts++;
      call.reject(new TacoError('DEADLINE_EXCEEDED', `call to node ${node} exceeded ${deadlineMs} ms`));
    }, deadlineMs);
  }

  private start(node: number, peer: Peer, call: Call): void {
    peer.active++;
    this.clock.setTimeout(() => {
      peer.active--;
      this.next(node, peer);
      if (call.done) return; // the caller gave up; the server-side work is wasted
      call.done = true;
      call.deadline?.cancel();
      const r = this.serve(node, call.req);
      if (r === undefined) call.reject(new TacoError('ENGINE_UNAVAILABLE', `node ${node} unreachable`));
      else call.resolve(r);
    }, this.p.latencyMs + this.slowdownMs);
  }

  private next(node: number, peer: Peer): void {
    while (peer.active < this.p.maxConcurrentStreams && peer.waitingCount > 0) {
      const call = peer.waiting[peer.head]!;
      peer.waiting[peer.head++] = undefined as unknown as Call;
      if (peer.head > 1024 && peer.head * 2 > peer.waiting.length) {
        peer.waiting = peer.waiting.slice(peer.head);
        peer.head = 0;
      }
      // A call whose deadline passed while waiting never takes a stream.
      if (!call.done) this.start(node, peer, call);
    }
  }

  async forwardAck(): Promise<void> {}
}
