/**
 * Multi-ezone pieces of a production node, assembled for src/server/server.ts
 * (the wiring place calls `prepareMultiDc` before `createNode` and the
 * returned hooks around it): the shard map (store → follower → view), route
 * replication and push hand-off over the ezone links, the node directory
 * shared by every ezone (forwarded ACKs, cross-ezone delivery), the dispatch
 * (HTTP-DNS) and admin routes, and the drill gauges.
 *
 * `openMultiDc` turns `taco serve` flags into these options (opening the
 * MySQL/file shard map store, the shared Redis directory and the AMQP links).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Scheduler } from '../core/clock.js';
import { pushQueueOf, SHARED_PUSH_QUEUE } from '../core/dispatcher.js';
import { TacoError } from '../core/errors.js';
import type { Session } from '../core/gateway.js';
import type { NodePorts, TacoNode } from '../core/node.js';
import type {
  MessageStore,
  NodeDirectory,
  Queue,
  RouteStore,
  ShardMapStore,
  Telemetry,
} from '../core/ports.js';
import { PushHandoff, RouteReplicator } from '../core/replication.js';
import {
  createShardMap,
  loadOrInitShardMap,
  regionOfLoc,
  ShardMapFollower,
  ShardMapView,
} from '../core/shard-map.js';
import { AmqpQueue } from '../engines/amqp/queue.js';
import { MemoryNodeDirectory } from '../engines/embedded/node-directory.js';
import { FileShardMapStore, MemoryShardMapStore } from '../engines/embedded/shard-map-store.js';
import { keepRegistered, type Registration } from '../engines/grpc-peer/registration.js';
import type { ForwardedAck } from '../engines/grpc-peer/server.js';
import { MysqlDb } from '../engines/mysql/db.js';
import { MysqlShardMapStore } from '../engines/mysql/shard-map-store.js';
import { connectRedis } from '../engines/redis/client.js';
import { RedisNodeDirectory } from '../engines/redis/node-directory.js';
import { dispatchRoutes } from '../gateway/dispatch-api.js';
import { AdminApi } from './admin-api.js';
import { registerDrillMetrics } from './node-metrics.js';

export interface MultiDcOptions {
  /** The shard map, shared by every ezone. */
  shardMaps: ShardMapStore;
  /** Every ezone, in shard order, for the first map when the store has none. */
  ezones: string[];
  /** region → ezone for the first map (default: each ezone serves the region of its name). */
  regions?: Record<string, string> | undefined;
  /** Node directory shared by every ezone (internal gRPC addresses); default the engines' own. */
  directory?: NodeDirectory | undefined;
  /** Gateways' public WebSocket URLs, for GET /v1/dispatch. */
  gatewayDirectory?: NodeDirectory | undefined;
  /** Nodes' HTTP URLs, for `taco failover` discovery. */
  httpDirectory?: NodeDirectory | undefined;
  /** peer ezone → a Queue on that ezone's broker (what it publishes for us is read there). */
  peers?: ReadonlyMap<string, Queue> | undefined;
  /** Where this ezone publishes for its peers; default the engines' queue. */
  outbound?: Queue | undefined;
  /** Host in the addresses this node registers; default the listen host. */
  publicHost?: string | undefined;
  dispatchTtlSec?: number | undefined;
  adminToken?: string | undefined;
  /** Region of a session; default the `loc` claim up to its first `/`. */
  regionOf?: ((s: Session) => string | undefined) | undefined;
  reconcileMs?: number | undefined;
  /** Closes what openMultiDc opened. */
  close?: (() => Promise<void>) | undefined;
}

export interface MultiDcContext {
  ezone: string;
  node: number;
  shards: number;
  dedicatedApps: readonly string[];
  engines: { routes: RouteStore; messages: MessageStore; queue: Queue };
  clock: Scheduler;
  telemetry: Telemetry;
  log: (msg: string) => void;
}

export interface MultiDcWiring {
  view: ShardMapView;
  replicator: RouteReplicator;
  /** Overrides for createNode's ports. */
  ports: Pick<NodePorts, 'routes' | 'shardMap' | 'handoff'>;
  /** The directory to look peers up in and register in (shared by all ezones), if given. */
  directory: NodeDirectory | undefined;
  /** After createNode: hook the node up and start consuming the links. */
  attach(node: TacoNode, registry: Registry): Promise<void>;
  extraRoutes(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  onForwardAck(ack: ForwardedAck): Promise<void>;
  /** After listening: registers the public WebSocket and HTTP addresses. */
  registerAddresses(a: { host: string; ws: number; http: number }): Promise<void>;
  /** Before the engines close. */
  stop(): Promise<void>;
}

export async function prepareMultiDc(o: MultiDcOptions, ctx: MultiDcContext): Promise<MultiDcWiring> {
  const regionOf = o.regionOf ?? ((s: Session) => regionOfLoc(s.loc));
  const initial = await loadOrInitShardMap(o.shardMaps, () =>
    createShardMap({
      shards: ctx.shards,
      ezones: o.ezones,
      regions: o.regions,
      by: `node ${ctx.node} (${ctx.ezone})`,
      at: ctx.clock.now(),
    }),
  );
  if (!initial.ezones.includes(ctx.ezone))
    ctx.log(
      `shard map version ${initial.version} does not list ezone ${ctx.ezone}: this node processes no shard`,
    );
  const view = new ShardMapView(initial);
  const follower = new ShardMapFollower(o.shardMaps, view, ctx.clock, {
    reconcileMs: o.reconcileMs ?? 500,
    telemetry: ctx.telemetry,
    log: ctx.log,
  });
  const peers = new Map([...(o.peers ?? new Map<string, Queue>())].filter(([p]) => p !== ctx.ezone));
  const outbound = o.outbound ?? ctx.engines.queue;
  let node: TacoNode | undefined;
  const replicator = new RouteReplicator({
    ezone: ctx.ezone,
    store: ctx.engines.routes,
    outbound,
    peers: [...peers.keys()],
    inbound: peers,
    clock: ctx.clock,
    telemetry: ctx.telemetry,
    log: ctx.log,
    onRemoteRoute: (r) => {
      node?.dispatcher.onSignedInElsewhere(r).catch(() => ctx.telemetry.count('signin.redelivery_failed'));
    },
  });
  const handoff = new PushHandoff({
    ezone: ctx.ezone,
    outbound,
    inbound: peers,
    ports: {
      messages: ctx.engines.messages,
      queue: ctx.engines.queue,
      clock: ctx.clock,
      telemetry: ctx.telemetry,
    },
  });
  const registrations: Registration[] = [];
  let admin: AdminApi | undefined;
  const dispatch = o.gatewayDirectory
    ? dispatchRoutes({ view, gateways: o.gatewayDirectory, ttlSec: o.dispatchTtlSec ?? 30 })
    : undefined;

  return {
    view,
    replicator,
    directory: o.directory,
    ports: {
      routes: replicator.routes,
      shardMap: { view, regionOf },
      // Only when links exist: without a peer nobody would read the hand-off queue.
      handoff: peers.size ? (ez, rec, job, q, prio) => handoff.send(ez, rec, job, q, prio) : undefined,
    },
    async attach(n, registry) {
      node = n;
      admin = new AdminApi({
        store: o.shardMaps,
        view,
        node: n,
        regionOf,
        httpDirectory: o.httpDirectory,
        gatewayDirectory: o.gatewayDirectory,
        token: o.adminToken,
        now: () => ctx.clock.now(),
      });
      registerDrillMetrics(registry, {
        node: n,
        view,
        regionOf,
        queue: ctx.engines.queue,
        pushQueues: [SHARED_PUSH_QUEUE, ...ctx.dedicatedApps.map((a) => pushQueueOf(a, ctx.dedicatedApps))],
        replicator,
      });
      follower.start();
      await replicator.start();
      await handoff.start();
    },
    async extraRoutes(req, res, url) {
      if (dispatch && (await dispatch(req, res, url))) return true;
      return admin ? admin.routes(req, res, url) : false;
    },
    async onForwardAck(ack) {
      if (!node?.ackRouter)
        throw new TacoError('NOT_FOUND', `no message ${ack.id} here (not a multi-ezone node)`);
      await node.ackRouter.onForwarded(ack);
    },
    async registerAddresses(a) {
      const host = o.publicHost ?? (a.host === '0.0.0.0' ? '127.0.0.1' : a.host);
      const log = (msg: string) => ctx.log(msg);
      if (o.gatewayDirectory)
        registrations.push(
          await keepRegistered(o.gatewayDirectory, {
            node: ctx.node,
            ezone: ctx.ezone,
            address: `ws://${host}:${a.ws}/v1/connect`,
            log,
          }),
        );
      if (o.httpDirectory)
        registrations.push(
          await keepRegistered(o.httpDirectory, {
            node: ctx.node,
            ezone: ctx.ezone,
            address: `http://${host}:${a.http}`,
            log,
          }),
        );
    },
    async stop() {
      for (const r of registrations.splice(0)) r.stop();
      follower.stop();
      // The sessions closed by the node's shutdown are removals to replicate: give them a moment.
      const until = Date.now() + 1_000;
      while (replicator.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await replicator.stop();
      await handoff.stop();
      await o.close?.();
    },
  };
}

// ---------- from `taco serve` flags ----------

export interface MultiDcFlags {
  /** `sh,bj`: every ezone, in shard order. */
  ezones?: string | undefined;
  /** `mysql://…` (a MySQL table), a file path, or `memory`. */
  shardMap?: string | undefined;
  /** `bj=amqp://…` per peer ezone: its broker. */
  peers?: string[] | undefined;
  /** Redis URL of the directory every ezone shares. */
  directory?: string | undefined;
  /** `sh=sh` per region. */
  regions?: string[] | undefined;
  publicHost?: string | undefined;
  adminToken?: string | undefined;
  dispatchTtlSec?: number | undefined;
}

function pairs(list: string[] | undefined, what: string): [string, string][] {
  return (list ?? []).map((s) => {
    const i = s.indexOf('=');
    if (i <= 0 || i === s.length - 1) throw new TacoError('BAD_INPUT', `${what} ${s}: expected NAME=VALUE`);
    return [s.slice(0, i), s.slice(i + 1)];
  });
}

/** Opens what the flags name; undefined when none of the multi-ezone flags is given. */
export async function openMultiDc(
  f: MultiDcFlags,
  self: string,
  log: (msg: string) => void,
): Promise<MultiDcOptions | undefined> {
  if (!f.ezones && !f.shardMap && !f.peers?.length) return undefined;
  const ezones = (f.ezones ?? self)
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (!ezones.includes(self))
    throw new TacoError('BAD_INPUT', `--ezones ${f.ezones}: does not include this node's ezone ${self}`);
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  try {
    let shardMaps: ShardMapStore;
    const sm = f.shardMap ?? 'memory';
    if (/^mysql:\/\//i.test(sm)) {
      const db = await MysqlDb.connect(sm, { log });
      closers.push(() => db.close());
      const store = new MysqlShardMapStore(db, { log });
      closers.push(() => store.close());
      await store.ensureTable();
      shardMaps = store;
    } else if (sm === 'memory') {
      shardMaps = new MemoryShardMapStore();
    } else {
      shardMaps = new FileShardMapStore(sm);
    }
    let directory: NodeDirectory | undefined;
    let gatewayDirectory: NodeDirectory;
    let httpDirectory: NodeDirectory;
    if (f.directory) {
      const redis = await connectRedis(f.directory, { log });
      closers.push(() => void redis.disconnect());
      directory = new RedisNodeDirectory(redis, { prefix: 'taco:' });
      gatewayDirectory = new RedisNodeDirectory(redis, { prefix: 'taco:gw:' });
      httpDirectory = new RedisNodeDirectory(redis, { prefix: 'taco:http:' });
    } else {
      gatewayDirectory = new MemoryNodeDirectory();
      httpDirectory = new MemoryNodeDirectory();
    }
    const peers = new Map<string, Queue>();
    for (const [peer, url] of pairs(f.peers, '--peer')) {
      const q = await AmqpQueue.connect(url, { log, connectionName: `taco ${self} link to ${peer}` });
      closers.push(() => q.close());
      peers.set(peer, q);
    }
    return {
      shardMaps,
      ezones,
      regions: f.regions?.length ? Object.fromEntries(pairs(f.regions, '--region')) : undefined,
      directory,
      gatewayDirectory,
      httpDirectory,
      peers,
      publicHost: f.publicHost,
      adminToken: f.adminToken,
      dispatchTtlSec: f.dispatchTtlSec,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
