/**
 * PeerRpc over internal gRPC. A node id (or an ezone, for forwarded ACKs)
 * becomes an address through the NodeDirectory (looked up at most every
 * `lookupCacheMs` per node). Guarantees, as the port states:
 * - every call ends by its deadline (the lookup counts against it; the gRPC
 *   call carries the rest as its own deadline, so the peer stops too);
 * - at most `maxInFlightPerPeer` calls per peer address; one more fails at
 *   once with QUOTA_EXHAUSTED instead of queueing behind a slow peer;
 * - connections keep alive with HTTP/2 pings (a dead peer is noticed in
 *   ~keepaliveTime + keepaliveTimeout, not at the next call's deadline).
 * A node absent from the directory (it left, or its registration expired)
 * means the route is stale: `deliver` answers 'no-session' (device offline).
 */
import * as grpc from '@grpc/grpc-js';
import { TacoError } from '../../core/errors.js';
import type { DeliverRequest, DeliverResult, NodeDirectory, NodeInfo, PeerRpc } from '../../core/ports.js';
import { withDeadline } from '../deadline.js';
import { loadNodeService } from './proto.js';
import { deliverToWire, errorFromGrpc, resultFromWire, type WireDeliverReply } from './wire.js';

export interface GrpcPeerRpcOptions {
  directory: NodeDirectory;
  /** Calls in flight per peer address beyond which new ones fail fast (cfg.dispatch.maxPendingRpcPerPeer). */
  maxInFlightPerPeer?: number;
  lookupCacheMs?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  credentials?: grpc.ChannelCredentials;
  /** Picks the node of an ezone that takes a forwarded ACK. */
  random?: () => number;
}

type Unary = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

export class GrpcPeerRpc implements PeerRpc {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly inFlight = new Map<string, number>();
  private readonly lookups = new Map<number, { info: NodeInfo | undefined; at: number }>();
  private readonly o: Required<Omit<GrpcPeerRpcOptions, 'directory'>>;
  private closed = false;

  constructor(private readonly opts: GrpcPeerRpcOptions) {
    this.o = {
      maxInFlightPerPeer: opts.maxInFlightPerPeer ?? 1_000,
      lookupCacheMs: opts.lookupCacheMs ?? 2_000,
      keepaliveTimeMs: opts.keepaliveTimeMs ?? 10_000,
      keepaliveTimeoutMs: opts.keepaliveTimeoutMs ?? 5_000,
      credentials: opts.credentials ?? grpc.credentials.createInsecure(),
      random: opts.random ?? Math.random,
    };
  }

  /** Calls in flight to one address (tests, metrics). */
  inFlightTo(address: string): number {
    return this.inFlight.get(address) ?? 0;
  }

  async deliver(node: number, req: DeliverRequest, deadlineMs: number): Promise<DeliverResult> {
    const until = Date.now() + deadlineMs;
    const info = await withDeadline(this.lookup(node), deadlineMs, `looking up node ${node}`);
    if (!info) return 'no-session';
    try {
      const reply = (await this.call(
        info.address,
        'deliver',
        deliverToWire(req),
        until,
        `deliver via node ${node}`,
      )) as WireDeliverReply;
      return resultFromWire(reply);
    } catch (e) {
      // The node may have restarted elsewhere: look it up afresh next time.
      if ((e as TacoError).code === 'ENGINE_UNAVAILABLE') this.lookups.delete(node);
      throw e;
    }
  }

  async forwardAck(
    ezone: string,
    ack: { app: string; id: string; status: string; at: number },
    deadlineMs: number,
  ): Promise<void> {
    const until = Date.now() + deadlineMs;
    const nodes = await withDeadline(
      this.opts.directory.list(ezone),
      deadlineMs,
      `listing nodes of ${ezone}`,
    );
    if (nodes.length === 0)
      throw new TacoError('ENGINE_UNAVAILABLE', `forward ACK ${ack.id}: no live node in ezone ${ezone}`);
    const target = nodes[Math.floor(this.o.random() * nodes.length)]!;
    await this.call(
      target.address,
      'forwardAck',
      ack,
      until,
      `forward ACK to ${ezone} (node ${target.node})`,
    );
  }

  private async lookup(node: number): Promise<NodeInfo | undefined> {
    const now = Date.now();
    const hit = this.lookups.get(node);
    if (hit && now - hit.at < this.o.lookupCacheMs && (!hit.info || hit.info.expiresAt > now))
      return hit.info;
    const info = await this.opts.directory.lookup(node);
    this.lookups.set(node, { info, at: Date.now() });
    return info;
  }

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      const { Client } = loadNodeService();
      c = new Client(address, this.o.credentials, {
        'grpc.keepalive_time_ms': this.o.keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': this.o.keepaliveTimeoutMs,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 5_000,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  /** One unary call within the bound of in-flight calls to `address`, ending by `until` (ms epoch). */
  private call(address: string, method: string, req: unknown, until: number, what: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new TacoError('CANCELLED', `${what}: peer client closed`));
    const n = this.inFlight.get(address) ?? 0;
    if (n >= this.o.maxInFlightPerPeer)
      return Promise.reject(
        new TacoError('QUOTA_EXHAUSTED', `${what}: ${n} calls already in flight to ${address}`, {
          address,
          inFlight: n,
        }),
      );
    if (Date.now() >= until)
      return Promise.reject(new TacoError('DEADLINE_EXCEEDED', `${what}: no time left`));
    this.inFlight.set(address, n + 1);
    const client = this.client(address);
    const fn = (client as unknown as Record<string, Unary>)[method]!;
    return new Promise<unknown>((resolve, reject) => {
      // A non-finite `until` (deadline 0 = none, drills only) passes Infinity: gRPC's "no deadline".
      fn.call(client, req, new grpc.Metadata(), { deadline: until }, (err, res) => {
        const left = (this.inFlight.get(address) ?? 1) - 1;
        if (left > 0) this.inFlight.set(address, left);
        else this.inFlight.delete(address);
        if (err) reject(errorFromGrpc(err, what));
        else resolve(res);
      });
    });
  }

  /** Closes every channel; calls in flight end with CANCELLED. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
