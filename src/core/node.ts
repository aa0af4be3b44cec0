/**
 * A Taco node assembled from its ports: gateway + dispatcher + auth. The two
 * wiring places (src/server for production, src/sim for the simulator) build
 * the ports and call `createNode`; everything behaviour-related lives here and
 * below, so the simulator runs exactly the code `taco serve` runs.
 */
import { AckRouter } from './ack-router.js';
import { AuthCache, Authenticator } from './auth.js';
import type { Random, Scheduler } from './clock.js';
import type { CoreConfig } from './config.js';
import { Dispatcher, DONE } from './dispatcher.js';
import { GatewayCore, type Session } from './gateway.js';
import { MsgIdGenerator } from './msgid.js';
import { PeerBreaker } from './peer-breaker.js';
import type {
  AppDirectory,
  MessageRecord,
  MessageStore,
  PeerRpc,
  PushJob,
  Queue,
  RouteStore,
  Telemetry,
  ThirdPartyChannel,
  UpstreamMessage,
} from './ports.js';
import type { ThirdPartyChannelName } from './protocol.js';
import { movedReason, regionOfLoc, regionsLeaving, type ShardMapView } from './shard-map.js';
import type { TokenCodec } from './token.js';

export interface NodePorts {
  clock: Scheduler;
  random: Random;
  apps: AppDirectory;
  tokens: TokenCodec;
  routes: RouteStore;
  messages: MessageStore;
  queue: Queue;
  rpc: PeerRpc;
  channels: ReadonlyMap<ThirdPartyChannelName, ThirdPartyChannel>;
  telemetry: Telemetry;
  /** Multi-ezone: the node's view of the shard map, and the region of a session (default: its `loc` prefix). */
  shardMap?: { view: ShardMapView; regionOf?: (s: Session) => string | undefined } | undefined;
  /** Multi-ezone: hands a push to its shard's ezone (replication.ts PushHandoff.send). */
  handoff?:
    | ((ezone: string, rec: MessageRecord, job: PushJob, queue: string, priority: number) => Promise<void>)
    | undefined;
}

export interface NodeIdentity {
  node: number;
  ezone: string;
}

export const upstreamQueueOf = (app: string) => `upstream.${app}`;

export interface TacoNode {
  readonly id: NodeIdentity;
  readonly gateway: GatewayCore;
  readonly dispatcher: Dispatcher;
  readonly authCache: AuthCache;
  /** Multi-ezone: routes ACKs to their message's home ezone, and takes those forwarded here. */
  readonly ackRouter?: AckRouter | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createNode(id: NodeIdentity, cfg: CoreConfig, ports: NodePorts): TacoNode {
  const authCache = new AuthCache(ports.apps, ports.clock, cfg.auth);
  const auth = new Authenticator(ports.tokens, authCache, ports.clock);
  const gateway = new GatewayCore(id, cfg.gateway, ports.clock, auth, ports.routes, ports.telemetry);
  const rpc =
    cfg.dispatch.peerBreaker.failures > 0
      ? new PeerBreaker(ports.rpc, ports.clock, cfg.dispatch.peerBreaker, ports.telemetry)
      : ports.rpc;
  const dispatcher = new Dispatcher({
    ...id,
    clock: ports.clock,
    random: ports.random,
    routes: ports.routes,
    messages: ports.messages,
    queue: ports.queue,
    rpc,
    gateway,
    channels: ports.channels,
    telemetry: ports.telemetry,
    ids: new MsgIdGenerator(id.node, () => ports.clock.now()),
    cfg,
    shardHome: ports.shardMap ? (shard) => ports.shardMap!.view.current.shards[shard] : undefined,
    handoff: ports.handoff,
  });
  const sm = ports.shardMap;
  const ackRouter = sm
    ? new AckRouter({
        ezone: id.ezone,
        messages: ports.messages,
        rpc: ports.rpc,
        view: sm.view,
        clock: ports.clock,
        telemetry: ports.telemetry,
        applyLocal: (app, device, msgId, status, rec) => dispatcher.onAck(app, device, msgId, status, rec),
        deadlineMs: cfg.dispatch.rpcDeadlineMs || 5_000,
      })
    : undefined;
  const regionOf = sm?.regionOf ?? ((s: Session) => regionOfLoc(s.loc));
  // Regions this ezone stopped serving: their sessions here are closed (4503, naming where to go)
  // at the bounded drain rate. Only on a change: a client that reached this ezone because its own
  // was unreachable (a crash, a cut) is served here, not bounced back.
  const unwatch = sm?.view.onChange((next, prev) => {
    const leaving = new Set(regionsLeaving(prev, next, id.ezone));
    if (leaving.size === 0) return;
    const moved = (s: Session) => {
      const r = regionOf(s);
      return r !== undefined && leaving.has(r) ? movedReason(sm.view.current, id.ezone, r) : undefined;
    };
    gateway.drain(
      (s) => moved(s) !== undefined,
      (s) => moved(s) ?? 'moved',
    );
  });
  gateway.hooks = {
    onSignedIn: (s) => {
      dispatcher
        .onSignedIn(s.app, s.device, s.id)
        .catch(() => ports.telemetry.count('signin.redelivery_failed'));
    },
    onAck: (s, msgId, status) => {
      const done = ackRouter
        ? ackRouter.onAck(s.app, s.device, msgId, status)
        : dispatcher.onAck(s.app, s.device, msgId, status);
      // An ACK applied at once answers DONE, which cannot fail: no handler (a promise and a job) for it.
      if (done !== DONE) done.catch(() => ports.telemetry.count('ack.failed'));
    },
    onUpstream: (s, upId, data) => {
      const up: UpstreamMessage = { app: s.app, device: s.device, id: upId, data, at: ports.clock.now() };
      return ports.queue.publish(upstreamQueueOf(s.app), up, {});
    },
    onRegister: (s, channel, token) => {
      ports.messages
        .registerChannel(s.app, s.device, channel, token)
        .catch(() => ports.telemetry.count('register.failed'));
    },
    configFor: (app, platform) => ports.messages.getConfig(app, platform),
  };
  return {
    id,
    gateway,
    dispatcher,
    authCache,
    ackRouter,
    start: () => dispatcher.start(),
    async stop() {
      unwatch?.();
      await dispatcher.stop();
      gateway.shutdown();
      authCache.close();
    },
  };
}
