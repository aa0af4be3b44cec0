/**
 * Loads `taco.internal.v1` (proto/taco/internal/v1/node.proto) at run time
 * with @grpc/proto-loader. The proto directory is found by walking up from
 * this file, so it works from src/ (tsx) and from dist/ (the published package
 * ships proto/ next to dist/).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TacoError } from '../../core/errors.js';

const PROTO_FILE = join('taco', 'internal', 'v1', 'node.proto');

export function findProtoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'proto', PROTO_FILE))) return join(dir, 'proto');
    if (dirname(dir) === dir)
      throw new TacoError('INTERNAL', `cannot find proto/${PROTO_FILE} above ${from}`);
  }
}

export interface NodeServiceDef {
  service: grpc.ServiceDefinition;
  Client: grpc.ServiceClientConstructor;
}

let cached: NodeServiceDef | undefined;

export function loadNodeService(): NodeServiceDef {
  if (cached) return cached;
  const root = findProtoRoot();
  const def = protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [root],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    taco: { internal: { v1: { Node: grpc.ServiceClientConstructor } } };
  };
  const Client = pkg.taco.internal.v1.Node;
  cached = { service: Client.service, Client };
  return cached;
}
