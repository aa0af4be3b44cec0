/**
 * The node side of `taco.internal.v1.Node`: the lead's server wiring hosts it
 * on the node's gRPC port with `createPeerServer(handlers).addTo(server)`.
 * Handlers get an AbortSignal that aborts when the caller cancels or its
 * deadline passes, so they never work for an answer nobody waits for.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DeliverRequest, DeliverResult } from '../../core/ports.js';
import { loadNodeService } from './proto.js';
import {
  deliverFromWire,
  errorToGrpc,
  resultToWire,
  type WireAck,
  type WireDeliverReply,
  type WireDeliverRequest,
} from './wire.js';

export interface ForwardedAck {
  app: string;
  id: string;
  status: string;
  at: number;
}

export interface PeerHandlers {
  /** Delivers to a session on this node (GatewayCore.deliver); 'no-session' when it is gone. */
  deliverLocal(req: DeliverRequest, signal: AbortSignal): DeliverResult | Promise<DeliverResult>;
  /** An ACK another ezone took for a message whose home is here. */
  onForwardAck(ack: ForwardedAck, signal: AbortSignal): void | Promise<void>;
}

/** Server options that match the peer client's keepalive (pings every 10 s, also when idle). */
export const PEER_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};

function callSignal(call: grpc.ServerUnaryCall<unknown, unknown>): { signal: AbortSignal; done(): void } {
  const ctl = new AbortController();
  const onCancel = () => ctl.abort();
  call.once('cancelled', onCancel);
  return { signal: ctl.signal, done: () => call.off('cancelled', onCancel) };
}

function unary<Req, Res>(
  fn: (req: Req, signal: AbortSignal) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const s = callSignal(call as grpc.ServerUnaryCall<unknown, unknown>);
    Promise.resolve()
      .then(() => fn(call.request, s.signal))
      .then(
        (res) => callback(null, res),
        (e: unknown) => callback(errorToGrpc(e) as grpc.ServiceError, null),
      )
      .finally(s.done);
  };
}

export interface PeerServer {
  readonly service: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Adds `taco.internal.v1.Node` to a server (before or after bind, before start). */
  addTo(server: grpc.Server): void;
}

export function createPeerServer(handlers: PeerHandlers): PeerServer {
  const { service } = loadNodeService();
  const implementation: grpc.UntypedServiceImplementation = {
    deliver: unary<WireDeliverRequest, WireDeliverReply>(async (req, signal) =>
      resultToWire(await handlers.deliverLocal(deliverFromWire(req), signal)),
    ),
    forwardAck: unary<WireAck, Record<string, never>>(async (req, signal) => {
      await handlers.onForwardAck(
        { app: req.app, id: req.id, status: req.status, at: Number(req.at) },
        signal,
      );
      return {};
    }),
  };
  return { service, implementation, addTo: (server) => server.addService(service, implementation) };
}

/** Same as `createPeerServer(handlers).addTo(server)`. */
export function addPeerService(server: grpc.Server, handlers: PeerHandlers): void {
  createPeerServer(handlers).addTo(server);
}
