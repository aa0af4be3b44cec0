/**
 * Between ezones, through the Queue port (SPEC §1):
 *
 * **Route replication.** Every local route write (a put, or the removal of a
 * session's route) is published to every peer ezone with its version
 * (timestamp, origin ezone). A peer applies it only if it wins by the same
 * rule the route stores use — last writer wins by (updatedAt, ezone) — and a
 * removal only kills the put of that session written at or before it. Writes
 * travel as *deltas* of a per-device state (the newest put, and the latest
 * removal time of each session), and applying is the join of states: a
 * commutative, associative, idempotent merge. So deliveries may come in any
 * order, twice (the queue is at least once), or coalesced, and every ezone
 * still ends with the same route. A replicated write is applied to the raw
 * store, never through the publishing wrapper, and deltas naming this ezone
 * as origin are dropped: nothing is ever re-published, so nothing loops.
 *
 * Topology: ezone A publishes what B must learn into `repl.routes.A.B` on A's
 * own broker (always reachable from A); B consumes that queue through its link
 * to A's broker. A link or a broker outage therefore only delays: writes wait
 * durably in A's queue (or, while A's own broker is down, in A's in-memory
 * outbox, coalesced per device and retried) and B catches up when it can read
 * again.
 *
 * **Push hand-off.** A push accepted in an ezone that does not process its
 * shard is handed to the shard's home ezone the same way
 * (`repl.push.A.B`); the home creates the record and queues the job, so the
 * push is processed — and its ACKs land — in its shard's ezone.
 */

import type { Scheduler, TimerHandle } from './clock.js';
import { DONE, type SyncMessageStore, type SyncQueue, syncOf } from './dispatcher.js';
import type {
  ConsumerHandle,
  MessageRecord,
  MessageStore,
  PushJob,
  Queue,
  Route,
  RouteStore,
  Telemetry,
} from './ports.js';

export const replicationQueueOf = (from: string, to: string) => `repl.routes.${from}.${to}`;
export const handoffQueueOf = (from: string, to: string) => `repl.push.${from}.${to}`;

// ---------- the merge (pure) ----------

/** What is known about one device's route: the newest put, and when each session was last removed. */
export interface RouteKeyState {
  top: Route | undefined;
  removed: ReadonlyMap<string, number>;
}

export const EMPTY_KEY_STATE: RouteKeyState = Object.freeze({ top: undefined, removed: new Map() });

/**
 * Total order of puts: (updatedAt, ezone) as every route store orders them
 * (isNewerRoute); the session, then the node, break exact ties so that every
 * replica picks the same winner whatever the arrival order.
 */
export function routeAfter(a: Route, b: Route): boolean {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt;
  if (a.ezone !== b.ezone) return a.ezone > b.ezone;
  if (a.session !== b.session) return a.session > b.session;
  return a.node > b.node;
}

/** Join of two states: newest put, latest removal per session. Commutative, associative, idempotent. */
export function joinKeyState(a: RouteKeyState, b: RouteKeyState): RouteKeyState {
  let top = a.top;
  if (b.top && (!top || routeAfter(b.top, top))) top = b.top;
  let removed = a.removed;
  if (b.removed.size) {
    const m = new Map(a.removed);
    for (const [s, at] of b.removed) if (!(at <= (m.get(s) ?? Number.NEGATIVE_INFINITY))) m.set(s, at);
    removed = m;
  }
  return top === a.top && removed === a.removed ? a : { top, removed };
}

/** The route the state stands for: the newest put, unless its session was removed at or after it. */
export function visibleRoute(s: RouteKeyState): Route | undefined {
  const t = s.top;
  if (!t) return undefined;
  const rm = s.removed.get(t.session);
  return rm !== undefined && rm >= t.updatedAt ? undefined : t;
}

export function sameRoute(a: Route | undefined, b: Route | undefined): boolean {
  if (!a || !b) return a === b;
  return a.session === b.session && a.updatedAt === b.updatedAt && a.ezone === b.ezone && a.node === b.node;
}

export const putState = (route: Route): RouteKeyState => ({ top: route, removed: new Map() });
export const removeState = (session: string, at: number): RouteKeyState => ({
  top: undefined,
  removed: new Map([[session, at]]),
});

// ---------- wire ----------

/** One replication message: a state delta for one device. */
export interface RouteDelta {
  v: 1;
  /** Ezone that published it. */
  origin: string;
  app: string;
  device: string;
  put?: Route | undefined;
  /** [session, removedAt] pairs. */
  removed?: [string, number][] | undefined;
}

export function deltaOf(origin: string, app: string, device: string, s: RouteKeyState): RouteDelta {
  const d: RouteDelta = { v: 1, origin, app, device };
  if (s.top) d.put = s.top;
  if (s.removed.size) d.removed = [...s.removed];
  return d;
}

export function stateOfDelta(d: RouteDelta): RouteKeyState {
  return { top: d.put, removed: new Map(d.removed ?? []) };
}

function isDelta(x: unknown): x is RouteDelta {
  const d = x as RouteDelta;
  return (
    typeof d === 'object' &&
    d !== null &&
    d.v === 1 &&
    typeof d.origin === 'string' &&
    typeof d.app === 'string' &&
    typeof d.device === 'string' &&
    (d.put === undefined ||
      (typeof d.put === 'object' &&
        d.put !== null &&
        typeof d.put.session === 'string' &&
        typeof d.put.updatedAt === 'number' &&
        typeof d.put.ezone === 'string' &&
        d.put.app === d.app &&
        d.put.device === d.device)) &&
    (d.removed === undefined ||
      (Array.isArray(d.removed) &&
        d.removed.every((p) => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'number')))
  );
}

// ---------- the replicator ----------

export interface RouteReplicatorOptions {
  ezone: string;
  /** The local route store (raw: writes here are not published). */
  store: RouteStore;
  /** This ezone's broker, where writes for the peers are published. */
  outbound: Queue;
  /** Peer ezones to publish to. */
  peers: readonly string[];
  /** peer → a Queue on that peer's broker, to read what it published for this ezone. */
  inbound: ReadonlyMap<string, Queue>;
  clock: Scheduler;
  telemetry?: Telemetry | undefined;
  /** A remote put became this device's route (it signed in in another ezone). */
  onRemoteRoute?: ((r: Route) => void) | undefined;
  /** Pause before publishing again after a failed publish. Default 1 s. */
  retryMs?: number;
  /** Devices waiting per peer in the outbox beyond which the oldest are dropped (counted). Default 100k. */
  maxOutbox?: number;
  /** How long a device's state is kept after its last write (late, reordered deliveries older than this may resurrect a removed route). Default 10 min. */
  stateTtlMs?: number;
  /** Handlers per inbound queue. Default 16. */
  concurrency?: number;
  /** Publishes in flight per peer. Default 64. */
  publishParallelism?: number;
  log?: ((msg: string) => void) | undefined;
}

interface Kept {
  st: RouteKeyState;
  touched: number;
}

const keyOf = (app: string, device: string) => `${app}\u0000${device}`;

export class RouteReplicator {
  /** The store the node uses: reads pass through, writes are applied locally, then published. */
  readonly routes: RouteStore;
  private readonly known = new Map<string, Kept>();
  private readonly outbox = new Map<string, Map<string, RouteDelta>>();
  private readonly flushing = new Set<string>();
  private readonly retryTimers = new Map<string, TimerHandle>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly consumers: ConsumerHandle[] = [];
  private sweepTimer: TimerHandle | undefined;
  private stopped = false;
  private readonly retryMs: number;
  private readonly maxOutbox: number;
  private readonly stateTtlMs: number;
  private readonly parallel: number;
  /** Counters (tests, metrics). */
  readonly stats = {
    published: 0,
    publishFailed: 0,
    applied: 0,
    ignored: 0,
    loops: 0,
    dropped: 0,
    invalid: 0,
  };

  constructor(private readonly o: RouteReplicatorOptions) {
    this.retryMs = o.retryMs ?? 1_000;
    this.maxOutbox = o.maxOutbox ?? 100_000;
    this.stateTtlMs = o.stateTtlMs ?? 600_000;
    this.parallel = o.publishParallelism ?? 64;
    for (const p of o.peers) if (p !== o.ezone) this.outbox.set(p, new Map());
    this.routes = new ReplicatingRouteStore(o.store, this, o.clock);
  }

  /** Writes waiting to be published, over all peers. */
  get pending(): number {
    let n = 0;
    for (const m of this.outbox.values()) n += m.size;
    return n;
  }

  async start(): Promise<void> {
    const self = this.o.ezone;
    for (const [peer, q] of this.o.inbound) {
      if (peer === self) continue;
      this.consumers.push(
        await q.consume<unknown>(
          replicationQueueOf(peer, self),
          async (d) => {
            await this.applyRemote(d.body);
          },
          { concurrency: this.o.concurrency ?? 16 },
        ),
      );
    }
    this.sweepTimer = this.o.clock.setInterval(() => this.sweep(), Math.max(1_000, this.stateTtlMs / 4));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sweepTimer?.cancel();
    for (const t of this.retryTimers.values()) t.cancel();
    this.retryTimers.clear();
    for (const c of this.consumers.splice(0)) await c.cancel().catch(() => {});
  }

  // ---------- local writes → peers ----------

  /** A local write succeeded: remember it and publish it to every peer. */
  recordLocal(app: string, device: string, delta: RouteKeyState): void {
    const key = keyOf(app, device);
    this.keep(key, joinKeyState(this.known.get(key)?.st ?? EMPTY_KEY_STATE, delta));
    for (const [peer, box] of this.outbox) {
      const prev = box.get(key);
      const merged = prev ? joinKeyState(stateOfDelta(prev), delta) : delta;
      if (!prev && box.size >= this.maxOutbox) {
        const oldest = box.keys().next().value as string;
        box.delete(oldest);
        this.stats.dropped++;
        this.o.telemetry?.count('replication.dropped');
      }
      box.set(key, deltaOf(this.o.ezone, app, device, merged));
      this.flushSoon(peer);
    }
  }

  private flushSoon(peer: string): void {
    if (this.flushing.has(peer) || this.retryTimers.has(peer) || this.stopped) return;
    this.flushing.add(peer);
    queueMicrotask(() => void this.flush(peer));
  }

  private async flush(peer: string): Promise<void> {
    const box = this.outbox.get(peer)!;
    const queue = replicationQueueOf(this.o.ezone, peer);
    try {
      while (box.size && !this.stopped) {
        const batch = [...box].slice(0, this.parallel);
        const results = await Promise.allSettled(
          batch.map(async ([key, delta]) => {
            await this.o.outbound.publish(queue, delta, {});
            // A newer write for the device may have replaced the entry meanwhile: that one stays.
            if (box.get(key) === delta) box.delete(key);
          }),
        );
        const failed = results.filter((r) => r.status === 'rejected').length;
        this.stats.published += results.length - failed;
        if (failed) {
          this.stats.publishFailed += failed;
          this.o.telemetry?.count('replication.publish_failed', failed);
          const reason = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
          this.o.log?.(
            `replication to ${peer}: ${failed} publish(es) failed, retrying: ${(reason as Error)?.message}`,
          );
          this.retryTimers.set(
            peer,
            this.o.clock.setTimeout(() => {
              this.retryTimers.delete(peer);
              this.flushSoon(peer);
            }, this.retryMs),
          );
          return;
        }
      }
    } finally {
      this.flushing.delete(peer);
    }
  }

  // ---------- peers' writes → local ----------

  /**
   * Applies a delta from a peer: joins it into what is known of the device and
   * writes the store if the visible route changed. Resolves once applied (the
   * queue then acks); rejects if the store failed (the queue redelivers).
   */
  applyRemote(body: unknown): Promise<'applied' | 'unchanged' | 'loop' | 'invalid'> {
    if (!isDelta(body)) {
      this.stats.invalid++;
      this.o.telemetry?.count('replication.invalid');
      return Promise.resolve('invalid');
    }
    if (body.origin === this.o.ezone) {
      // Our own write came back: never apply (or publish) it again.
      this.stats.loops++;
      this.o.telemetry?.count('replication.loop_dropped');
      return Promise.resolve('loop');
    }
    const key = keyOf(body.app, body.device);
    const prev = this.chains.get(key) ?? Promise.resolve();
    const run = prev.then(
      () => this.applyNow(key, body),
      () => this.applyNow(key, body),
    );
    this.chains.set(key, run);
    void run
      .finally(() => {
        if (this.chains.get(key) === run) this.chains.delete(key);
      })
      .catch(() => {});
    return run;
  }

  private async applyNow(key: string, d: RouteDelta): Promise<'applied' | 'unchanged'> {
    const store = this.o.store;
    let base = this.known.get(key)?.st;
    if (!base) base = { top: await store.get(d.app, d.device), removed: new Map() };
    const before = visibleRoute(base);
    const next = joinKeyState(base, stateOfDelta(d));
    const after = visibleRoute(next);
    let changed = false;
    if (after && !sameRoute(before, after)) {
      await store.put(after);
      changed = true;
    } else if (!after && before) {
      await store.remove(d.app, d.device, before.session);
      changed = true;
    }
    // Only once the store took it: a failed write is redelivered and tried again from `base`.
    this.keep(key, next);
    if (!changed) {
      this.stats.ignored++;
      return 'unchanged';
    }
    this.stats.applied++;
    this.o.telemetry?.count('replication.applied');
    if (after && d.put && sameRoute(after, d.put) && before?.session !== after.session)
      this.o.onRemoteRoute?.(after);
    return 'applied';
  }

  private keep(key: string, st: RouteKeyState): void {
    this.known.delete(key);
    this.known.set(key, { st, touched: this.o.clock.now() });
  }

  /** Forgets devices not written for stateTtlMs (the map is in touch order). */
  private sweep(): void {
    const limit = this.o.clock.now() - this.stateTtlMs;
    for (const [k, v] of this.known) {
      if (v.touched > limit) break;
      this.known.delete(k);
    }
  }
}

/** Reads pass through; a write is applied to the local store, then published (never when it failed). */
class ReplicatingRouteStore implements RouteStore {
  constructor(
    private readonly inner: RouteStore,
    private readonly r: RouteReplicator,
    private readonly clock: Scheduler,
  ) {}

  async put(route: Route): Promise<void> {
    await this.inner.put(route);
    this.r.recordLocal(route.app, route.device, putState(route));
  }

  async remove(app: string, device: string, session: string): Promise<void> {
    const at = this.clock.now();
    await this.inner.remove(app, device, session);
    this.r.recordLocal(app, device, removeState(session, at));
  }

  get(app: string, device: string): Promise<Route | undefined> {
    return this.inner.get(app, device);
  }
  devicesOfUser(app: string, user: string): Promise<string[]> {
    return this.inner.devicesOfUser(app, user);
  }
  devicesOfApp(app: string): Promise<string[]> {
    return this.inner.devicesOfApp(app);
  }
}

// ---------- push hand-off ----------

/** A push accepted in one ezone for a shard processed in another. */
export interface HandedOffPush {
  v: 1;
  origin: string;
  rec: MessageRecord;
  job: PushJob;
  /** The push queue of the job (pushQueueOf) and its priority level. */
  queue: string;
  priority: number;
}

export interface HandoffPorts {
  messages: MessageStore;
  queue: Queue;
  clock: Scheduler;
  telemetry?: Telemetry | undefined;
}

/**
 * The home ezone's side of a hand-off: what Dispatcher.send does once the ids
 * are chosen. Idempotent: `create` is idempotent by id, and a second job for
 * a message the dispatcher already handles is dropped.
 */
export function acceptHandedOffPush(p: HandoffPorts, h: HandedOffPush): Promise<void> {
  // Engines that answer at once (SYNC_ENGINE, the embedded ones): the same steps without a promise
  // per step. The record is copied, as `create` does: the sender may still hold it.
  const messages = syncOf<SyncMessageStore>(p.messages);
  const queue = messages && syncOf<SyncQueue>(p.queue);
  if (!messages || !queue) return acceptHandedOffPushAsync(p, h);
  try {
    messages.createSync(h.rec);
    messages.transitionSync(h.rec.id, 'queued', p.clock.now());
    queue.publishSync(h.queue, h.job, { priority: h.priority });
    p.telemetry?.count('push.handoff_received');
    return DONE;
  } catch (e) {
    return Promise.reject(e);
  }
}

async function acceptHandedOffPushAsync(p: HandoffPorts, h: HandedOffPush): Promise<void> {
  await p.messages.create(h.rec);
  // As Dispatcher.send: `queued` before the publish, so history stays in order. A failed publish
  // rejects and the hand-off is redelivered (create and the transition are idempotent).
  await p.messages.transition(h.rec.id, 'queued', p.clock.now());
  await p.queue.publish(h.queue, h.job, { priority: h.priority });
  p.telemetry?.count('push.handoff_received');
}

export interface PushHandoffOptions {
  ezone: string;
  outbound: Queue;
  inbound: ReadonlyMap<string, Queue>;
  ports: HandoffPorts;
  concurrency?: number;
}

export class PushHandoff {
  private readonly consumers: ConsumerHandle[] = [];

  constructor(private readonly o: PushHandoffOptions) {}

  /** Durably hands a push to `to` (resolves on the local broker's confirm). */
  send(to: string, rec: MessageRecord, job: PushJob, queue: string, priority: number): Promise<void> {
    const body: HandedOffPush = { v: 1, origin: this.o.ezone, rec, job, queue, priority };
    return this.o.outbound.publish(handoffQueueOf(this.o.ezone, to), body, { priority });
  }

  async start(): Promise<void> {
    for (const [peer, q] of this.o.inbound) {
      if (peer === this.o.ezone) continue;
      this.consumers.push(
        await q.consume<HandedOffPush>(
          handoffQueueOf(peer, this.o.ezone),
          async (d) => {
            const h = d.body;
            if (h?.v !== 1 || typeof h.rec?.id !== 'string' || h.origin === this.o.ezone) {
              this.o.ports.telemetry?.count('push.handoff_invalid');
              return;
            }
            await acceptHandedOffPush(this.o.ports, h);
          },
          { concurrency: this.o.concurrency ?? 16 },
        ),
      );
    }
  }

  async stop(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.cancel().catch(() => {});
  }
}
