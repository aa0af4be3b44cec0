/** Conversions between the core's types and `taco.internal.v1` messages, and between TacoErrors and gRPC statuses. */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { type ErrorCode, TacoError } from '../../core/errors.js';
import type { DeliverRequest, DeliverResult } from '../../core/ports.js';
import type { PushFrame, PushKind } from '../../core/protocol.js';

export interface WireFrame {
  id: string;
  kind: string;
  title?: string | undefined;
  body?: string | undefined;
  dataJson: string;
  ts: number;
}

export interface WireDeliverRequest {
  app: string;
  device: string;
  session: string;
  frame: WireFrame;
}

export interface WireDeliverReply {
  result: 'RESULT_UNSPECIFIED' | 'SENT' | 'NO_SESSION';
}

export interface WireAck {
  app: string;
  id: string;
  status: string;
  at: number;
}

export function deliverToWire(req: DeliverRequest): WireDeliverRequest {
  const f = req.frame;
  const frame: WireFrame = {
    id: f.id,
    kind: f.kind,
    dataJson: f.data ? JSON.stringify(f.data) : '',
    ts: f.ts,
  };
  if (f.title !== undefined) frame.title = f.title;
  if (f.body !== undefined) frame.body = f.body;
  return { app: req.app, device: req.device, session: req.session, frame };
}

export function deliverFromWire(w: WireDeliverRequest): DeliverRequest {
  const wf = w.frame;
  if (!wf?.id) throw new TacoError('INVALID_ARGUMENT', 'Deliver: frame with an id is required');
  const frame: PushFrame = { op: 'push', id: wf.id, kind: wf.kind as PushKind, ts: Number(wf.ts) };
  // proto3 `optional`: proto-loader leaves an unset field undefined (or null).
  if (wf.title != null) frame.title = wf.title;
  if (wf.body != null) frame.body = wf.body;
  if (wf.dataJson) frame.data = JSON.parse(wf.dataJson) as Record<string, unknown>;
  return { app: w.app, device: w.device, session: w.session, frame };
}

export function resultToWire(r: DeliverResult): WireDeliverReply {
  return { result: r === 'sent' ? 'SENT' : 'NO_SESSION' };
}

export function resultFromWire(w: WireDeliverReply): DeliverResult {
  return w.result === 'SENT' ? 'sent' : 'no-session';
}

const TO_GRPC: Partial<Record<ErrorCode, GrpcStatus>> = {
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  QUOTA_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  OVERLOADED: GrpcStatus.RESOURCE_EXHAUSTED,
  ENGINE_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DRAINING: GrpcStatus.UNAVAILABLE,
  CANCELLED: GrpcStatus.CANCELLED,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
};

export function errorToGrpc(e: unknown): Partial<ServiceError> {
  const te = e instanceof TacoError ? e : undefined;
  const code = te
    ? (TO_GRPC[te.code] ?? (te.cls === 'user' ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.INTERNAL))
    : GrpcStatus.INTERNAL;
  return { code, details: (e as Error)?.message ?? String(e) };
}

export function errorFromGrpc(e: ServiceError, what: string): TacoError {
  const msg = `${what}: ${e.details || e.message}`;
  switch (e.code) {
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new TacoError('DEADLINE_EXCEEDED', msg, undefined, { cause: e });
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new TacoError('QUOTA_EXHAUSTED', msg, undefined, { cause: e });
    case GrpcStatus.CANCELLED:
      return new TacoError('CANCELLED', msg, undefined, { cause: e });
    case GrpcStatus.UNAVAILABLE:
      return new TacoError('ENGINE_UNAVAILABLE', msg, { peer: true }, { cause: e });
    case GrpcStatus.INVALID_ARGUMENT:
      return new TacoError('INVALID_ARGUMENT', msg, undefined, { cause: e });
    default:
      return new TacoError('INTERNAL', msg, { grpcCode: e.code }, { cause: e });
  }
}
