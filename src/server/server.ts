/**
 * The production wiring place: binds the core node to real I/O (ws, HTTP,
 * gRPC, system clock, engines chosen by config) and owns their lifetimes.
 * `startServer` resolves once every port listens; `stop` drains and closes
 * everything in reverse order.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { CoreConfig } from '../core/config.js';
import { TacoError } from '../core/errors.js';
import { createNode, type TacoNode } from '../core/node.js';
import type { AppInfo } from '../core/ports.js';
import { jwtHs256Codec } from '../core/token.js';
import { StaticAppDirectory } from '../engines/embedded/app-directory.js';
import { GrpcPeerRpc } from '../engines/grpc-peer/client.js';
import { keepRegistered, type Registration } from '../engines/grpc-peer/registration.js';
import { addPeerService } from '../engines/grpc-peer/server.js';
import { type Engines, selectEngines } from '../engines/select.js';
import { systemRandom, systemScheduler } from '../engines/system-clock.js';
import { type MultiDcOptions, prepareMultiDc } from '../failover/node-wiring.js';
import { addPushService } from '../gateway/grpc-api.js';
import { HttpApi } from '../gateway/http-api.js';
import { HttpFront } from '../gateway/http-front.js';
import { PromTelemetry } from '../gateway/prom-telemetry.js';
import { WsGateway } from '../gateway/ws-gateway.js';
import type { ServeConfig } from './config-file.js';

export type ServerEngines = Engines;

/** In-process engines: `taco serve` with nothing installed. */
export function embeddedEngines(ezone = 'local'): Promise<ServerEngines> {
  return selectEngines({ ezone });
}

export interface ReadyInfo {
  event: 'ready';
  ws: number;
  http: number;
  grpc: number;
  node: number;
  ezone: string;
  apps: string[];
  engines: Record<string, string>;
}

export interface RunningServer {
  node: TacoNode;
  ready: ReadyInfo;
  /** Apps created because none were configured (quick start); their secrets. */
  generatedApps: AppInfo[];
  stop(): Promise<void>;
}

/**
 * Accept queue length asked of the kernel (it caps it at net.core.somaxconn). Node's default, 511,
 * overflows in a reconnect storm: dropped SYNs come back only after TCP's 1 s, 3 s, 7 s… retries,
 * which stretched a 15,000-client storm from ~14 s to ~21 s on the bench machine (docs/benchmarks.md).
 */
export const LISTEN_BACKLOG = 65_535;

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(new TacoError('BAD_INPUT', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`));
    server.once('error', onError);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function bindGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
      e
        ? reject(new TacoError('BAD_INPUT', `cannot listen on gRPC ${host}:${port}: ${e.message}`))
        : resolve(p),
    ),
  );
}

export interface StartOptions {
  config: ServeConfig;
  engines?: ServerEngines;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /**
   * Where peers reach this node's internal gRPC service, as registered in the node directory
   * (default `host:grpcPort`). `taco serve --workers` shares the gRPC port between its workers,
   * so each worker listens on a port of its own and injects those connections into `grpcServer`.
   */
  peerAddress?: (grpcServer: grpc.Server) => Promise<string>;
  /** Several ezones: shard map, route replication, push hand-off, ACK routing, dispatch and admin APIs. */
  multiDc?: MultiDcOptions;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const cfg = opts.config;
  const log = opts.log ?? (() => {});
  const generatedApps: AppInfo[] = [];
  let apps: AppInfo[] = cfg.apps;
  if (apps.length === 0) {
    const demo = { id: 'demo', secret: randomBytes(18).toString('base64url') };
    generatedApps.push(demo);
    apps = [demo];
    log('no apps configured: created app "demo" for this run; pass --app ID=SECRET to choose your own', {
      app: demo.id,
      secret: demo.secret,
    });
  }
  const engines = opts.engines ?? (await embeddedEngines(cfg.ezone));
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const coreCfg: CoreConfig = cfg.core;
  const telemetry = new PromTelemetry(registry, { node: cfg.node, ezone: cfg.ezone });
  const md = opts.multiDc
    ? await prepareMultiDc(opts.multiDc, {
        ezone: cfg.ezone,
        node: cfg.node,
        shards: coreCfg.shards,
        dedicatedApps: coreCfg.dispatch.dedicatedApps,
        engines,
        clock: systemScheduler,
        telemetry,
        log: (msg) => log(msg),
      })
    : undefined;
  // Several ezones share one directory (forwarded ACKs, delivery to a node of another ezone).
  const directory = md?.directory ?? engines.nodes;
  // Node-to-node delivery: peers found through the node directory, every call with a deadline.
  const rpc = new GrpcPeerRpc({
    directory,
    maxInFlightPerPeer: cfg.core.dispatch.maxPendingRpcPerPeer,
  });
  const node = createNode({ node: cfg.node, ezone: cfg.ezone }, coreCfg, {
    clock: systemScheduler,
    random: systemRandom,
    apps: new StaticAppDirectory(apps),
    tokens: jwtHs256Codec,
    routes: engines.routes,
    messages: engines.messages,
    queue: engines.queue,
    rpc,
    channels: new Map(),
    telemetry,
    ...md?.ports,
  });
  await node.start();
  await md?.attach(node, registry);

  let ready = false;
  const wsServer = createHttpServer();
  const ws = new WsGateway(node.gateway);
  ws.attach(wsServer);
  const api = new HttpApi({
    node,
    messages: engines.messages,
    queue: engines.queue,
    registry,
    isReady: () => ready && !node.gateway.isDraining,
    extraRoutes: md ? (req, res, url) => md.extraRoutes(req, res, url) : undefined,
  });
  const grpcServer = new grpc.Server({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  addPushService(grpcServer, { node, messages: engines.messages, queue: engines.queue });
  addPeerService(grpcServer, {
    deliverLocal: (req) =>
      node.gateway.deliver(req.app, req.device, req.session, req.frame) ? 'sent' : 'no-session',
    onForwardAck: async (ack) => {
      // An ACK taken in another ezone for a message held here (a single ezone never forwards).
      await md?.onForwardAck(ack);
    },
  });
  let registration: Registration | undefined;
  // With a front thread the inline API serves it on an internal loopback port (http-front.ts).
  const front =
    cfg.httpFront === 'thread'
      ? new HttpFront({
          api,
          host: cfg.host,
          backlog: LISTEN_BACKLOG,
          log: (msg, fields) => log(msg, fields),
        })
      : undefined;

  const stopAll = async () => {
    ready = false;
    registration?.stop();
    await node.stop();
    await ws.close();
    await new Promise<void>((r) => wsServer.close(() => r()));
    wsServer.closeAllConnections();
    await front?.close();
    api.server.closeAllConnections();
    await new Promise<void>((r) => api.server.close(() => r()));
    await new Promise<void>((r) => grpcServer.tryShutdown(() => r()));
    grpcServer.forceShutdown();
    rpc.close();
    await md?.stop();
    await engines.close();
  };

  try {
    const wsPort = await listen(wsServer, cfg.ports.ws, cfg.host);
    const httpPort = front
      ? await listen(api.server, 0, '127.0.0.1').then((internal) => front.listen(cfg.ports.http, internal))
      : await listen(api.server, cfg.ports.http, cfg.host);
    const grpcPort = await bindGrpc(grpcServer, cfg.host, cfg.ports.grpc);
    registration = await keepRegistered(directory, {
      node: cfg.node,
      ezone: cfg.ezone,
      address: opts.peerAddress
        ? await opts.peerAddress(grpcServer)
        : `${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${grpcPort}`,
      log: (msg) => log(msg),
    });
    await md?.registerAddresses({ host: cfg.host, ws: wsPort, http: httpPort });
    ready = true;
    const info: ReadyInfo = {
      event: 'ready',
      ws: wsPort,
      http: httpPort,
      grpc: grpcPort,
      node: cfg.node,
      ezone: cfg.ezone,
      apps: apps.map((a) => a.id),
      engines: engines.describe,
    };
    return { node, ready: info, generatedApps, stop: stopAll };
  } catch (e) {
    await stopAll().catch(() => {});
    throw e;
  }
}
