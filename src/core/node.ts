/**
 * A Taco node assembled from its ports: gateway + dispatcher + auth. The two
 * wiring places (src/server for production, src/sim for the simulator) build
 * the ports and call `createNode`; everything behaviour-related lives here and
 * below, so the simulator runs exactly the code `taco serve` runs.
 */
import { AuthCache, Authenticator } from './auth.js';
import type { Random, Scheduler } from './clock.js';
import type { CoreConfig } from './config.js';
import { Dispatcher } from './dispatcher.js';
import { GatewayCore } from './gateway.js';
import { MsgIdGenerator } from './msgid.js';
import type {
  AppDirectory,
  MessageStore,
  PeerRpc,
  Queue,
  RouteStore,
  Telemetry,
  ThirdPartyChannel,
  UpstreamMessage,
} from './ports.js';
import type { ThirdPartyChannelName } from './protocol.js';
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
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createNode(id: NodeIdentity, cfg: CoreConfig, ports: NodePorts): TacoNode {
  const authCache = new AuthCache(ports.apps, ports.clock, cfg.auth);
  const auth = new Authenticator(ports.tokens, authCache, ports.clock);
  const gateway = new GatewayCore(id, cfg.gateway, ports.clock, auth, ports.routes, ports.telemetry);
  const dispatcher = new Dispatcher({
    ...id,
    clock: ports.clock,
    random: ports.random,
    routes: ports.routes,
    messages: ports.messages,
    queue: ports.queue,
    rpc: ports.rpc,
    gateway,
    channels: ports.channels,
    telemetry: ports.telemetry,
    ids: new MsgIdGenerator(id.node, () => ports.clock.now()),
    cfg,
  });
  gateway.hooks = {
    onSignedIn: (s) => {
      dispatcher
        .onSignedIn(s.app, s.device, s.id)
        .catch(() => ports.telemetry.count('signin.redelivery_failed'));
    },
    onAck: (s, msgId, status) => {
      dispatcher.onAck(s.app, s.device, msgId, status).catch(() => ports.telemetry.count('ack.failed'));
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
    start: () => dispatcher.start(),
    async stop() {
      await dispatcher.stop();
      gateway.shutdown();
      authCache.close();
    },
  };
}
