/**
 * The simulation wiring place: binds the shipped core (createNode) to virtual
 * time, the simulated network, simulated engines and the client population,
 * applies the fault timeline, generates open-model traffic and samples
 * metrics. Nothing here decides how a gateway or dispatcher behaves; that is
 * src/core, the same code `taco serve` runs.
 */
import type { BackoffPolicy } from '../core/backoff.js';
import { SeededRandom } from '../core/clock.js';
import { type CoreConfig, type CoreConfigInput, coreConfig } from '../core/config.js';
import { TacoError } from '../core/errors.js';
import { createNode, type TacoNode, upstreamQueueOf } from '../core/node.js';
import type { DeliverResult, MessageRecord, Telemetry, UpstreamMessage } from '../core/ports.js';
import { PLATFORMS, type Platform } from '../core/protocol.js';
import { acceptHandedOffPush } from '../core/replication.js';
import type { SendRequest } from '../core/send-request.js';
import {
  applyShardMapChange,
  createShardMap,
  type ShardMapChange,
  type ShardMapState,
  ShardMapView,
} from '../core/shard-map.js';
import { isSettled } from '../core/status.js';
import { type ParsedToken, type TokenCodec, validateClaims } from '../core/token.js';
import { StaticAppDirectory } from '../engines/embedded/app-directory.js';
import { MemoryMessageStore } from '../engines/embedded/message-store.js';
import { MemoryRouteStore } from '../engines/embedded/route-store.js';
import { MemoryShardMapStore } from '../engines/embedded/shard-map-store.js';
import type { Calibration } from './calibration.js';
import { ClientPopulation, ClientState, type SimNodeHandle } from './clients.js';
import { type OutageSwitch, withOutage } from './engines/outage.js';
import { SimQueue } from './engines/queue.js';
import { SimRpc } from './engines/rpc.js';
import { SimConn, SimNetwork } from './network.js';
import { VirtualScheduler } from './virtual-clock.js';

export const SIM_APP = { id: 'sim', secret: 'simulated-app-secret' };
/** Virtual time starts here so message ids and reports never depend on the wall clock. */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

/** What the world needs from the metrics layer (src/sim/metrics implements it). */
export interface SimRecorder {
  setTime(ms: number): void;
  count(name: string, n?: number, tags?: Record<string, string>): void;
  observe(name: string, value: number, tags?: Record<string, string>): void;
  gauge(name: string, value: number, tags?: Record<string, string>): void;
  event(name: string, fields?: Record<string, unknown>): void;
}

export interface FaultSpec {
  kind: string;
  atMs: number;
  forMs?: number | undefined;
  params: Record<string, unknown>;
}

export interface WorldSpec {
  seed: number;
  durationMs: number;
  ezones: { name: string; gateways: number }[];
  clients: {
    count: number;
    platforms: Record<Platform, number>;
    heartbeatSec: number;
    reconnect: BackoffPolicy;
    rampMs: number;
    dnsTtlMs: number;
  };
  /** `tickMs`: how often the open-model traffic is generated (10 ms unless set; a live push driver ticks every 1 ms). */
  traffic: { pushPerSec: number; upstreamPerSec: number; ttlSec: number; tickMs?: number };
  faults: FaultSpec[];
  core: CoreConfigInput;
  engines: {
    queue: { perConsumerPerSec: number; diskModeThreshold: number; diskModeSlowdown: number };
    rpc: { maxConcurrentStreams: number };
  };
  calibration: Calibration;
  /** Sign-in attempts per second (whole population) that count as a reconnect storm. */
  stormAttemptsPerSec: number;
}

/**
 * Device ids `d<client>`, one string per client for the whole run: the sign-in, the route, the
 * session and every push to the device share it, so the core's maps compare keys by identity.
 */
class DeviceIds {
  private readonly ids: (string | undefined)[];
  constructor(count: number) {
    this.ids = new Array(count);
  }
  of(client: number): string {
    let id = this.ids[client];
    if (id === undefined) this.ids[client] = id = `d${client}`;
    return id;
  }
}

/** Sim tokens are `sim:<client>`; the claims are validated by the core's own rules, the HMAC is not computed. */
function simTokenCodec(devices: DeviceIds, count: number): TokenCodec {
  return {
    parse(token: string): ParsedToken {
      const client = token.startsWith('sim:') ? Number(token.slice(4)) : Number.NaN;
      if (!Number.isInteger(client) || client < 0 || client >= count)
        throw new TacoError('TOKEN_INVALID', 'not a simulator token');
      const claims = validateClaims({ app: SIM_APP.id, dev: devices.of(client), exp: 4_102_444_800 });
      return { claims, verify: (secret) => secret === SIM_APP.secret };
    },
  };
}

class NodeTelemetry implements Telemetry {
  private readonly tags: Record<string, string>;
  constructor(
    private readonly rec: SimRecorder,
    ezone: string,
  ) {
    this.tags = { ezone };
  }
  count(name: string, n = 1): void {
    this.rec.count(name, n, this.tags);
  }
  observe(name: string, value: number): void {
    this.rec.observe(name, value, this.tags);
  }
  gauge(): void {
    // Gauges are sampled by the world once per virtual second instead.
  }
}

export interface WorldOutcome {
  virtualMs: number;
  events: number;
  accepted: number;
  delivered: number;
  expired: number;
  lost: number;
  inFlight: number;
  peakOnline: number;
  finalOnline: number;
}

export class World {
  readonly clock: VirtualScheduler;
  readonly random: SeededRandom;
  readonly net: SimNetwork;
  readonly nodes: (SimNodeHandle & { node: TacoNode; rpc: SimRpc })[] = [];
  readonly clients: ClientPopulation;
  readonly queue: SimQueue;
  readonly messages: MemoryMessageStore;
  readonly routes: MemoryRouteStore;
  readonly switches: Record<'route-store' | 'message-store', OutageSwitch>;
  readonly cfg: CoreConfig;
  /**
   * Called with each first copy's time from acceptance to the client (ms, not
   * rounded to the clock's milliseconds), as a load client measures it; unset in
   * scenarios (the agreement test sets it).
   */
  onPushShown: ((latencyMs: number) => void) | undefined;
  /** The shard map ("GZS"): faults change it with the code `taco failover` uses; every node follows it. */
  readonly shardMaps = new MemoryShardMapStore();
  readonly shardView: ShardMapView;
  private readonly ezoneNames: string[];
  private readonly deviceIds: DeviceIds;
  private attemptsThisSecond = 0;
  private authLoads = 0;
  private accepted = 0;
  private delivered = 0;
  private expired = 0;
  private peakOnline = 0;
  private trafficCarry = 0;
  private upstreamCarry = 0;
  private onlineByEzone = new Map<string, number>();

  constructor(
    private readonly spec: WorldSpec,
    private readonly rec: SimRecorder,
  ) {
    this.cfg = coreConfig(spec.core);
    this.deviceIds = new DeviceIds(spec.clients.count);
    if (spec.ezones.reduce((n, e) => n + e.gateways, 0) > 255) {
      throw new TacoError('BAD_INPUT', 'at most 255 gateways in a simulation (node ids are 8 bits)');
    }
    this.clock = new VirtualScheduler(SIM_EPOCH_MS);
    this.random = new SeededRandom(spec.seed);
    const cal = spec.calibration;
    this.net = new SimNetwork(this.clock, this.random, cal.network);
    this.net.dnsTtlMs = spec.clients.dnsTtlMs;
    this.ezoneNames = spec.ezones.map((e) => e.name);
    const firstMap = createShardMap({
      shards: this.cfg.shards,
      ezones: this.ezoneNames,
      by: 'sim',
      at: SIM_EPOCH_MS,
    });
    this.shardMaps.commitSync(firstMap);
    this.shardView = new ShardMapView(firstMap);
    // The dispatch DNS answers from the map's region → ezone, like GET /v1/dispatch.
    const syncDns = (m: ShardMapState) => {
      for (const [region, ez] of Object.entries(m.regions)) this.net.dns.set(region, ez);
    };
    syncDns(firstMap);
    this.shardMaps.watch((m) => {
      syncDns(m);
      this.shardView.offer(m);
    });

    this.routes = new MemoryRouteStore();
    // The simulated store stands for MySQL: no embedded caps on how many messages it holds.
    this.messages = new MemoryMessageStore({
      retentionMs: 30_000,
      keepHistory: false,
      maxSettled: Number.POSITIVE_INFINITY,
      maxUnsettled: Number.POSITIVE_INFINITY,
    });
    this.messages.onTransition = (r, from) => this.onTransition(r, from);
    this.queue = new SimQueue(this.clock, { ...spec.engines.queue, tickMs: 10 });
    this.switches = {
      'route-store': { down: false, name: 'route store', refused: 0 },
      'message-store': { down: false, name: 'message store', refused: 0 },
    };
    const routes = withOutage(this.routes, this.switches['route-store']);
    const messages = withOutage(this.messages, this.switches['message-store']);
    const apps = new StaticAppDirectory([SIM_APP]);
    const tokens = simTokenCodec(this.deviceIds, spec.clients.count);

    const byEzone = new Map<string, SimNodeHandle[]>();
    for (const ez of spec.ezones) {
      const list: SimNodeHandle[] = [];
      for (let g = 0; g < ez.gateways; g++) {
        const index = this.nodes.length;
        const rpc = new SimRpc(
          this.clock,
          {
            maxConcurrentStreams: spec.engines.rpc.maxConcurrentStreams,
            maxPendingPerPeer: this.cfg.dispatch.maxPendingRpcPerPeer,
            latencyMs: cal.rpc.latencyMs,
          },
          (target, req) => this.serveRpc(target, req),
        );
        const node = createNode({ node: index, ezone: ez.name }, this.cfg, {
          clock: this.clock,
          random: new SeededRandom((spec.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0),
          apps,
          tokens,
          routes,
          messages,
          queue: this.queue,
          rpc,
          channels: new Map(),
          telemetry: new NodeTelemetry(rec, ez.name),
          shardMap: { view: this.shardView, regionOf: (s) => this.regionOfDevice(s.device) },
          // One message store and queue for the whole world: the home ezone's side of a hand-off, in process.
          handoff: (_home, rec, job, queue, priority) =>
            acceptHandedOffPush(
              { messages, queue: this.queue, clock: this.clock },
              { v: 1, origin: ez.name, rec, job, queue, priority },
            ),
        });
        const handle = { index, ezone: ez.name, gateway: node.gateway, dead: false, node, rpc };
        this.nodes.push(handle);
        list.push(handle);
      }
      byEzone.set(ez.name, list);
    }

    const platformCut = cumulative(spec.clients.platforms);
    const weights = spec.ezones.map((e) => e.gateways);
    const totalW = weights.reduce((a, b) => a + b, 0);
    this.clients = new ClientPopulation(
      {
        count: spec.clients.count,
        regions: this.ezoneNames,
        regionOf: (i) => pickWeighted(weights, totalW, frac(i * 0.6180339887498949)),
        platformOf: (i) => PLATFORMS[pickCumulative(platformCut, frac(i * 0.7548776662466927))]!,
        heartbeatSec: spec.clients.heartbeatSec,
        reconnect: spec.clients.reconnect,
        connectTimeoutMs: cal.network.connectTimeoutMs,
        pongTimeoutMs: cal.network.pongTimeoutMs,
        signInCpuMs: cal.gateway.signInCpuUs / 1000 / cal.gateway.cores,
        helloShare: cal.gateway.helloShare,
        frameCpuMs: cal.gateway.frameCpuUs / 1000 / cal.gateway.cores,
        closeCpuMs: cal.gateway.closeCpuUs / 1000 / cal.gateway.cores,
        pushCpuMs: cal.gateway.pushCpuUs / 1000 / cal.gateway.cores,
      },
      this.clock,
      this.random,
      this.net,
      this.nodes,
      byEzone,
      this.ezoneNames,
      {
        onOnline: (_c, recovery) => {
          if (recovery !== undefined) rec.observe('reconnect.recovery', recovery);
        },
        onOffline: () => rec.count('client.disconnected'),
        onConnectAttempt: () => {
          this.attemptsThisSecond++;
          rec.count('reconnect.attempts');
        },
        onPushShown: (_c, _id, ts, arrivedAt) => {
          rec.count('push.shown');
          this.onPushShown?.(arrivedAt - ts);
        },
        onDuplicate: () => rec.count('push.duplicate'),
        onSignInRejected: (_c, code) => rec.count('signin.shed', 1, { code: String(code) }),
      },
    );
  }

  /** Region of a simulated device `d<i>`: the one its client population assigned. */
  private regionOfDevice(device: string): string | undefined {
    return this.ezoneNames[this.clients.regionOf(Number(device.slice(1)))];
  }

  /** Applies a change to the shard map as `taco failover` does (validated, versioned); nodes follow at once. */
  private changeShardMap(change: ShardMapChange): ShardMapState {
    const next = applyShardMapChange(this.shardMaps.latest!, change, { by: 'sim', at: this.clock.now() });
    this.shardMaps.commitSync(next);
    return next;
  }

  private serveRpc(target: number, req: Parameters<SimRpc['deliver']>[1]): DeliverResult | undefined {
    const n = this.nodes[target];
    if (!n || n.dead || this.net.isCut(n.ezone)) return undefined;
    return n.gateway.deliver(req.app, req.device, req.session, req.frame) ? 'sent' : 'no-session';
  }

  private onTransition(r: MessageRecord, from: MessageRecord['status']): void {
    if (isSettled(r.status) && !isSettled(from)) {
      if (r.status === 'expired') this.expired++;
      else if (r.status !== 'failed') this.delivered++;
    }
  }

  private pushTraffic(): void {
    const spec = this.spec.traffic;
    const ticksPerSec = 1000 / (spec.tickMs ?? 10);
    this.trafficCarry += spec.pushPerSec / ticksPerSec;
    const n = Math.floor(this.trafficCarry);
    this.trafficCarry -= n;
    for (let i = 0; i < n; i++) {
      const c = Math.floor(this.random.next() * this.spec.clients.count);
      const device = this.deviceIds.of(c);
      const region = this.ezoneNames[this.clients.regionOf(c)]!;
      const home = this.net.dns.get(region) ?? region;
      const node = this.pickLiveNode(home);
      if (!node) {
        this.rec.count('push.rejected');
        continue;
      }
      const r = this.random.next();
      const req: SendRequest = {
        to: { devices: [device] },
        kind: r < 0.7 ? 'notification' : 'passthrough',
        priority: r < 0.1 ? 'high' : r > 0.9 ? 'low' : 'normal',
        ttl: spec.ttlSec,
      };
      node.node.dispatcher.send(SIM_APP.id, req).then(
        () => this.accepted++,
        () => this.rec.count('push.rejected'),
      );
    }
    this.upstreamCarry += spec.upstreamPerSec / ticksPerSec;
    const u = Math.floor(this.upstreamCarry);
    this.upstreamCarry -= u;
    for (let i = 0; i < u; i++) {
      const c = Math.floor(this.random.next() * this.spec.clients.count);
      const conn = this.clients.conns[c];
      if (conn && this.clients.stateOf(c) === ClientState.OPEN)
        conn.sendUp({ op: 'up', id: `u${this.clock.now()}-${i}`, data: {} });
    }
  }

  private liveByEzone: Map<string, World['nodes']> | undefined;
  private liveAll: World['nodes'] = [];

  /** A live node of the ezone (any live node if none is left there); lists rebuilt only when a node dies. */
  private pickLiveNode(ezone: string) {
    if (!this.liveByEzone) {
      this.liveByEzone = new Map();
      this.liveAll = this.nodes.filter((n) => !n.dead);
      for (const n of this.liveAll) {
        let l = this.liveByEzone.get(n.ezone);
        if (!l) this.liveByEzone.set(n.ezone, (l = []));
        l.push(n);
      }
    }
    const inZone = this.liveByEzone.get(ezone);
    const pool = inZone?.length ? inZone : this.liveAll;
    return pool.length ? pool[Math.floor(this.random.next() * pool.length)] : undefined;
  }

  private scheduleFaults(): void {
    for (const f of this.spec.faults) {
      this.clock.setTimeout(() => {
        this.rec.setTime(this.clock.now());
        this.rec.event('fault.start', { kind: f.kind, ...f.params });
        const undo = this.applyFault(f);
        if (undo && f.forMs) {
          this.clock.setTimeout(() => {
            undo();
            this.rec.setTime(this.clock.now());
            this.rec.event('fault.end', { kind: f.kind });
          }, f.forMs);
        }
      }, f.atMs);
    }
  }

  /** Applies one fault; returns how to heal it when it has a duration. */
  private applyFault(f: FaultSpec): (() => void) | undefined {
    const p = f.params;
    switch (f.kind) {
      case 'network-cut': {
        const ez = String(p.ezone);
        // The ezone's edge is withdrawn: established connections are reset, new ones go nowhere.
        for (const n of this.nodes) if (n.ezone === ez && !n.dead) this.clients.resetNode(n.index);
        this.net.cut.add(ez);
        return () => this.net.cut.delete(ez);
      }
      case 'dns-failover': {
        // A shard-map change: the dispatch DNS answers `to` for the region, and the nodes of the
        // ezone that stops serving it drain its sessions with 4503 naming `to` (src/core/node.ts).
        const before = this.shardMaps.latest!;
        this.changeShardMap({ kind: 'region', region: String(p.region), to: String(p.to) });
        return f.forMs ? () => void this.changeShardMap({ kind: 'rollback', target: before }) : undefined;
      }
      case 'shard-switch': {
        // Pushes of these shards are processed in `to` from now on; ACKs follow the map.
        const before = this.shardMaps.latest!;
        this.changeShardMap({ kind: 'shards', shards: (p.shards as number[]).map(Number), to: String(p.to) });
        return f.forMs ? () => void this.changeShardMap({ kind: 'rollback', target: before }) : undefined;
      }
      case 'gateway-crash': {
        const ez = String(p.ezone);
        const inZone = this.nodes.filter((n) => n.ezone === ez);
        const victim = inZone[Number(p.gateway ?? 0) % inZone.length];
        if (!victim) return undefined;
        victim.dead = true;
        this.liveByEzone = undefined;
        this.rec.event('gateway.crashed', { node: victim.index });
        this.clients.resetNode(victim.index);
        void victim.node.stop();
        return undefined;
      }
      case 'engine-outage': {
        const engine = String(p.engine);
        if (engine === 'queue') {
          this.queue.down = true;
          return () => {
            this.queue.down = false;
          };
        }
        const sw = this.switches[engine as 'route-store' | 'message-store'];
        sw.down = true;
        return () => {
          sw.down = false;
        };
      }
      case 'mq-backlog': {
        this.queue.forcedSlowdown = Number(p.slowdown ?? 10);
        return () => {
          this.queue.forcedSlowdown = 1;
        };
      }
      case 'grpc-stream-quota': {
        const ms =
          p.latencyMs !== undefined
            ? Number(p.latencyMs)
            : this.spec.calibration.rpc.latencyMs * (Number(p.slowdown ?? 1) - 1);
        for (const n of this.nodes) n.rpc.slowdownMs = ms;
        return () => {
          for (const n of this.nodes) n.rpc.slowdownMs = 0;
        };
      }
      case 'close-wait-leak': {
        // Flaky mobile links: connections that reach a gateway and half-close before
        // their hello (FIN from the phone, the socket left in CLOSE_WAIT on ours).
        // Only the gateway's timer can end them: there is no device to replace them.
        const seconds = Math.max(1, Math.round((f.forMs ?? 1000) / 1000));
        const perSecond = Math.round((Number(p.fraction ?? 0.01) * this.spec.clients.count) / seconds);
        const timer = this.clock.setInterval(() => {
          for (let i = 0; i < perSecond; i++) {
            const n = this.nodes[Math.floor(this.random.next() * this.nodes.length)]!;
            if (n.dead || this.net.isCut(n.ezone)) continue;
            const ghost = new SimConn(-1, n.index, n.ezone, this.net, this.clock);
            ghost.clientGone = true;
            n.gateway.peerClosed(n.gateway.open(ghost));
          }
        }, 1000);
        return () => timer.cancel();
      }
      case 'auth-cache-cancel':
        // The incident is a code path, not an outside event: the variant sets auth.reuseRequestSignal.
        // What the fault does is make every client sign in again (a routine deploy restarts the gateways).
        for (const n of this.nodes) if (!n.dead) n.gateway.drain(() => true, 'node restarting');
        return undefined;
      default:
        throw new TacoError('BAD_INPUT', `unknown fault kind ${f.kind}`);
    }
  }

  private sample(nowMs: number): void {
    const rec = this.rec;
    rec.setTime(nowMs);
    if (
      this.attemptsThisSecond >= this.spec.stormAttemptsPerSec &&
      nowMs > SIM_EPOCH_MS + this.spec.clients.rampMs
    ) {
      rec.event('reconnect.storm', { attempts: this.attemptsThisSecond });
    }
    rec.gauge('reconnect.attempts_per_s', this.attemptsThisSecond);
    this.attemptsThisSecond = 0;
    const cal = this.spec.calibration;
    this.onlineByEzone.clear();
    let maxMem = 0;
    let closeWait = 0;
    let rpcPending = 0;
    for (const n of this.nodes) {
      if (n.dead) continue;
      const g = n.gateway;
      this.onlineByEzone.set(n.ezone, (this.onlineByEzone.get(n.ezone) ?? 0) + g.sessions);
      // Sessions, connections waiting to be signed in (they hold buffers too), and waiting calls.
      const mem =
        (g.connections + this.clients.waitingAt(n.index, nowMs)) * cal.gateway.sessionBytes +
        n.rpc.pendingCalls * cal.rpc.pendingCallBytes;
      if (mem > maxMem) maxMem = mem;
      closeWait += g.halfOpen + g.leaked;
      rpcPending += n.rpc.pendingCalls;
    }
    let online = 0;
    for (const [ez, v] of this.onlineByEzone) {
      rec.gauge('sessions.online', v, { ezone: ez });
      online += v;
    }
    if (online > this.peakOnline) this.peakOnline = online;
    rec.gauge('gateway.memory', maxMem);
    rec.gauge('gateway.closewait', closeWait);
    if (closeWait > 0) rec.event('gateway.closewait.seen');
    rec.gauge('rpc.pending', rpcPending);
    let quotaHits = 0;
    let timeouts = 0;
    for (const n of this.nodes) {
      quotaHits += n.rpc.quotaHits;
      timeouts += n.rpc.timeouts;
      n.rpc.quotaHits = 0;
      n.rpc.timeouts = 0;
    }
    if (quotaHits > 0) {
      rec.event('rpc.quota_hit');
      rec.count('rpc.queued', quotaHits);
    }
    if (timeouts) rec.count('rpc.timeouts', timeouts);
    let refreshes = 0;
    for (const n of this.nodes) refreshes += n.node.authCache.loads;
    if (refreshes > this.authLoads) {
      // The first load per node fills the cache; later ones are refreshes.
      if (this.authLoads >= this.nodes.length || refreshes > this.nodes.length) rec.event('auth.refresh');
      this.authLoads = refreshes;
    }
    for (const sw of Object.values(this.switches)) {
      if (sw.refused > 0) rec.event('engine.unavailable', { engine: sw.name, refused: sw.refused });
      sw.refused = 0;
    }
    rec.gauge('queue.backlog', this.queue.backlog);
    if (this.queue.diskMode) rec.event('queue.disk_mode');
    rec.gauge('queue.consumers', this.queue.consumerSlots);
  }

  async run(onProgress?: (fraction: number) => void): Promise<WorldOutcome> {
    for (const n of this.nodes) await n.node.start();
    // A business service reading upstream messages (at least once).
    await this.queue.consume<UpstreamMessage>(
      upstreamQueueOf(SIM_APP.id),
      async () => {
        this.rec.count('upstream.delivered');
      },
      { concurrency: 16 },
    );
    this.clients.start(this.spec.clients.rampMs);
    // Traffic starts once the population has signed in (the ramp), like a platform already in service.
    this.clock.setTimeout(
      () => this.clock.setInterval(() => this.pushTraffic(), this.spec.traffic.tickMs ?? 10),
      this.spec.clients.rampMs,
    );
    this.scheduleFaults();
    const end = SIM_EPOCH_MS + this.spec.durationMs;
    await this.clock.runUntil(end, (now) => {
      this.sample(now);
      if (onProgress && now % 10_000 === 0) onProgress((now - SIM_EPOCH_MS) / this.spec.durationMs);
    });
    return this.outcome();
  }

  private outcome(): WorldOutcome {
    const now = this.clock.now();
    // Grace for the expiry sweeper and in-flight ACKs before a message counts as lost.
    const graceMs = this.cfg.dispatch.expirySweepMs + 5_000;
    let lost = 0;
    let inFlight = 0;
    for (const r of this.messages.unsettled()) {
      if (r.expiresAt + graceMs < now) lost++;
      else inFlight++;
    }
    this.rec.count('push.lost', lost);
    this.rec.gauge('push.in_flight', inFlight);
    let online = 0;
    for (const v of this.onlineByEzone.values()) online += v;
    return {
      virtualMs: this.spec.durationMs,
      events: this.clock.executed,
      accepted: this.accepted,
      delivered: this.delivered,
      expired: this.expired,
      lost,
      inFlight,
      peakOnline: this.peakOnline,
      finalOnline: online,
    };
  }
}

function frac(x: number): number {
  return x - Math.floor(x);
}

function cumulative(platforms: Record<Platform, number>): number[] {
  let acc = 0;
  return PLATFORMS.map((p) => (acc += platforms[p] ?? 0));
}

function pickCumulative(cut: number[], u: number): number {
  const total = cut[cut.length - 1] || 1;
  for (let i = 0; i < cut.length; i++) if (u * total < cut[i]!) return i;
  return cut.length - 1;
}

function pickWeighted(weights: number[], total: number, u: number): number {
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (u * total < acc) return i;
  }
  return weights.length - 1;
}
