/**
 * Business API over gRPC (`taco.v1.Push`, proto/taco/v1/push.proto). Requests
 * are converted to the same SendRequest the HTTP API validates, so both APIs
 * share one validation and one error mapping.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { asTacoError, type ErrorCode, TacoError } from '../core/errors.js';
import { type TacoNode, upstreamQueueOf } from '../core/node.js';
import type { MessageStore, Queue, UpstreamMessage } from '../core/ports.js';
import { PLATFORMS } from '../core/protocol.js';
import { parseSendRequest } from '../core/send-request.js';
import { authenticateBusiness } from './business-auth.js';
import { getStatus } from './http-api.js';

export const PROTO_ROOT = fileURLToPath(new URL('../../proto', import.meta.url));

export function loadProto(file: string): grpc.GrpcObject {
  const def = protoLoader.loadSync(file, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(def);
}

export function pushServiceDefinition(): grpc.ServiceDefinition {
  const pkg = loadProto('taco/v1/push.proto') as unknown as {
    taco: { v1: { Push: grpc.ServiceClientConstructor } };
  };
  return pkg.taco.v1.Push.service;
}

const GRPC_STATUS: Partial<Record<ErrorCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  BODY_TOO_LARGE: grpc.status.INVALID_ARGUMENT,
  BAD_INPUT: grpc.status.INVALID_ARGUMENT,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  RATE_LIMITED: grpc.status.RESOURCE_EXHAUSTED,
  QUOTA_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  OVERLOADED: grpc.status.UNAVAILABLE,
  DRAINING: grpc.status.UNAVAILABLE,
  ENGINE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  CANCELLED: grpc.status.CANCELLED,
};

export function toGrpcError(e: unknown): grpc.ServiceError {
  const err = asTacoError(e);
  const meta = new grpc.Metadata();
  meta.set('taco-error-code', err.wireCode);
  return Object.assign(new Error(err.message), {
    code: GRPC_STATUS[err.code] ?? grpc.status.INTERNAL,
    details: err.message,
    metadata: meta,
  });
}

function parseJsonObject(text: string | undefined, field: string): Record<string, unknown> | undefined {
  if (text === undefined || text === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TacoError('INVALID_ARGUMENT', `${field}: not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new TacoError('INVALID_ARGUMENT', `${field}: must be a JSON object`);
  return v as Record<string, unknown>;
}

interface GrpcSendRequest {
  to?: { devices: string[]; users: string[]; all: boolean };
  kind: string;
  title?: string;
  body?: string;
  dataJson?: string;
  priority: string;
  ttl: number;
  idempotencyKey?: string;
}

function toSendBody(r: GrpcSendRequest): unknown {
  const to = r.to ?? { devices: [], users: [], all: false };
  const target = to.all ? { all: true } : to.users.length ? { users: to.users } : { devices: to.devices };
  const body: Record<string, unknown> = { to: target, kind: r.kind, priority: r.priority || 'normal' };
  if (r.title !== undefined) body.title = r.title;
  if (r.body !== undefined) body.body = r.body;
  const data = parseJsonObject(r.dataJson, 'data_json');
  if (data) body.data = data;
  if (r.ttl) body.ttl = r.ttl;
  if (r.idempotencyKey) body.idempotencyKey = r.idempotencyKey;
  return body;
}

export interface GrpcApiDeps {
  node: TacoNode;
  messages: MessageStore;
  queue: Queue;
}

export function addPushService(server: grpc.Server, d: GrpcApiDeps): void {
  const auth = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) =>
    authenticateBusiness(call.metadata.get('authorization')[0]?.toString(), d.node.authCache);
  const unary =
    <Req, Res>(fn: (app: string, req: Req) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      auth(call as grpc.ServerUnaryCall<unknown, unknown>)
        .then((app) => fn(app, call.request))
        .then(
          (res) => cb(null, res),
          (e) => cb(toGrpcError(e)),
        );
    };
  const streamUpstream = (call: grpc.ServerWritableStream<unknown, unknown>): void => {
    auth(call)
      .then(async (app) => {
        const consumer = await d.queue.consume<UpstreamMessage>(
          upstreamQueueOf(app),
          async ({ body }) => {
            if (call.cancelled) throw new TacoError('CANCELLED', 'subscriber gone');
            call.write({
              device: body.device,
              id: body.id,
              dataJson: JSON.stringify(body.data),
              at: body.at,
            });
          },
          { concurrency: 1 },
        );
        call.on('cancelled', () => void consumer.cancel());
        call.on('close', () => void consumer.cancel());
      })
      .catch((e) => call.destroy(toGrpcError(e)));
  };
  server.addService(pushServiceDefinition(), {
    Send: unary(async (app, req: GrpcSendRequest) => ({
      ids: await d.node.dispatcher.send(app, parseSendRequest(toSendBody(req))),
    })),
    GetStatus: unary(async (app, req: { id: string }) => {
      const s = await getStatus(d.messages, app, req.id);
      return { ...s, channel: s.channel ?? '' };
    }),
    SetConfig: unary(async (app, req: { platform: string; dataJson: string }) => {
      if (!(PLATFORMS as readonly string[]).includes(req.platform)) {
        throw new TacoError('INVALID_ARGUMENT', `platform must be one of ${PLATFORMS.join(', ')}`);
      }
      const data = parseJsonObject(req.dataJson, 'data_json');
      if (!data) throw new TacoError('INVALID_ARGUMENT', 'data_json: required');
      return { version: await d.messages.setConfig(app, req.platform, data) };
    }),
    Upstream: streamUpstream,
  });
}
