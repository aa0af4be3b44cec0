/**
 * The dispatcher: accept → queue → resolve route → deliver → wait for ACK →
 * retry with backoff until TTL → `expired`, falling back to third-party
 * channels when the device is offline or silent. Every status change goes
 * through the MessageStore with its time. Queue handlers are idempotent by
 * message id, so a redelivered job (a dispatcher died) never shows twice.
 */
import { backoffDelayMs } from './backoff.js';
import type { Random, Scheduler, TimerHandle } from './clock.js';
import type { CoreConfig } from './config.js';
import { TacoError } from './errors.js';
import type { GatewayCore } from './gateway.js';
import { decodeMsgId, type MsgIdGenerator } from './msgid.js';
import type {
  ConsumerHandle,
  MessageRecord,
  MessageStore,
  PeerRpc,
  Priority,
  PushJob,
  Queue,
  QueueDelivery,
  Route,
  RouteStore,
  Telemetry,
  ThirdPartyChannel,
} from './ports.js';
import type { AckStatus, PushFrame, ThirdPartyChannelName } from './protocol.js';
import type { SendRequest } from './send-request.js';
import { shardOf } from './shard.js';
import { isDelivered, isSettled, type MessageStatus } from './status.js';

export const PRIORITY_LEVEL: Record<Priority, number> = { high: 9, normal: 5, low: 1 };
export const SHARED_PUSH_QUEUE = 'push.shared';
export const pushQueueOf = (app: string, dedicated: readonly string[]) =>
  dedicated.includes(app) ? `push.app.${app}` : SHARED_PUSH_QUEUE;

const ACK_TO_STATUS: Record<AckStatus, MessageStatus> = {
  received: 'delivered',
  displayed: 'displayed',
  opened: 'opened',
};

/**
 * Engines that answer in this process (src/engines/embedded) also offer the dispatcher's calls
 * synchronously, through this method: a push is then accepted, delivered and ACKed without a
 * promise per step (at saturation the promise hops of ~20 async steps per push, and their garbage,
 * were the largest part of the node's own profile). The method answers only while the engine's
 * asynchronous methods are its own: whatever replaced them (the simulator's outage switch wraps
 * the stores, tests inject faults) must see every call, so it gets the asynchronous path.
 */
export const SYNC_ENGINE = Symbol('taco.syncEngine');

export interface SyncMessageStore {
  getSync(id: string): MessageRecord | undefined;
  /** `create`: the store keeps a copy of the record. */
  createSync(rec: MessageRecord): void;
  /** `create` of a record the caller hands over and never touches again (no copy). */
  createOwnedSync(rec: MessageRecord): void;
  transitionSync(id: string, status: MessageStatus, at: number, channel?: MessageRecord['channel']): boolean;
}
export interface SyncRouteStore {
  getSync(app: string, device: string): Route | undefined;
}
export interface SyncQueue {
  publishSync<T>(queue: string, body: T, opts: { priority?: number }): void;
}

/** The engine's synchronous view (SYNC_ENGINE) for this call, or undefined: take the async path. */
export function syncOf<T>(engine: object): T | undefined {
  const view = (engine as { [SYNC_ENGINE]?: () => T | undefined })[SYNC_ENGINE];
  return view === undefined ? undefined : view.call(engine);
}

/** What a handler that finished at once returns: one shared settled promise, nothing allocated. */
export const DONE: Promise<void> = Promise.resolve();

export interface DispatcherDeps {
  node: number;
  ezone: string;
  clock: Scheduler;
  random: Random;
  routes: RouteStore;
  messages: MessageStore;
  queue: Queue;
  rpc: PeerRpc;
  gateway: GatewayCore;
  channels: ReadonlyMap<ThirdPartyChannelName, ThirdPartyChannel>;
  telemetry: Telemetry;
  ids: MsgIdGenerator;
  cfg: CoreConfig;
  /** The ezone that processes a shard (the shard map); undefined or absent: this one. */
  shardHome?: ((shard: number) => string | undefined) | undefined;
  /** Hands an accepted push to its shard's ezone, durably (replication.ts PushHandoff). */
  handoff?:
    | ((ezone: string, rec: MessageRecord, job: PushJob, queue: string, priority: number) => Promise<void>)
    | undefined;
}

interface Pending {
  attempt: number;
  timer: TimerHandle | undefined;
  fellBack: boolean;
}

export class Dispatcher {
  private readonly pending = new Map<string, Pending>();
  /** Messages with a queue job being handled right now (before `pending` knows them). */
  private readonly inFlight = new Set<string>();
  private readonly consumers = new Map<string, ConsumerHandle>();
  /** Concurrency applied to each queue's consumer: every queue scales on its own backlog. */
  private readonly concurrencyOf = new Map<string, number>();
  private readonly timers: TimerHandle[] = [];
  /** Wake-ups of consumers waiting before a failed job goes back to the broker (see onJob). */
  private readonly pauses = new Set<() => void>();
  private concurrency: number;
  private stopped = false;

  constructor(private readonly d: DispatcherDeps) {
    this.concurrency = d.cfg.dispatch.consumers.min;
  }

  get pendingAcks(): number {
    return this.pending.size;
  }
  /** Largest consumer concurrency over the push queues (the shared queue's when no app is dedicated). */
  get consumerCount(): number {
    return this.concurrency;
  }

  // ---------- accept ----------

  /** Accepts a push for `app`; resolves with the message ids once each job is durably queued. */
  send(app: string, req: SendRequest): Promise<string[]> {
    // One device without an idempotency key is most pushes: a small async path of its own (a
    // suspended async function holds a frame the size of its body, allocated per push).
    const to = req.to;
    if (!req.idempotencyKey && 'devices' in to && to.devices.length === 1) {
      const messages = syncOf<SyncMessageStore>(this.d.messages);
      const routes = syncOf<SyncRouteStore>(this.d.routes);
      const queue = syncOf<SyncQueue>(this.d.queue);
      if (messages && routes && queue)
        return this.sendToOneNow(app, req, to.devices[0]!, messages, routes, queue);
      return this.sendToOne(app, req, to.devices[0]!);
    }
    return this.sendToMany(app, req);
  }

  /** sendToOne on engines that answer at once: the same steps in the same order, without awaiting each. */
  private sendToOneNow(
    app: string,
    req: SendRequest,
    device: string,
    messages: SyncMessageStore,
    routes: SyncRouteStore,
    queue: SyncQueue,
  ): Promise<string[]> {
    try {
      const { clock } = this.d;
      const now = clock.now();
      const ttlSec = this.ttlSecOf(req);
      let r: Route | undefined;
      try {
        r = routes.getSync(app, device);
      } catch {
        r = undefined;
      }
      const shard = shardOf({ device, user: r?.user, loc: r?.loc }, this.d.cfg.shards);
      const id = this.d.ids.next(shard);
      const rec = recordOf(app, req, device, id, now, ttlSec);
      const job = jobOf(rec);
      const name = pushQueueOf(app, this.d.cfg.dispatch.dedicatedApps);
      const home = this.d.shardHome?.(shard);
      if (home !== undefined && home !== this.d.ezone && this.d.handoff) {
        return this.handOffOrKeep(home, rec, job, name).then(() => [id]);
      }
      messages.createOwnedSync(rec);
      this.d.telemetry.count('push.accepted');
      messages.transitionSync(id, 'queued', clock.now());
      try {
        queue.publishSync(name, job, { priority: PRIORITY_LEVEL[rec.priority] });
      } catch (e) {
        try {
          messages.transitionSync(id, 'failed', clock.now());
        } catch {}
        throw e;
      }
      return Promise.resolve([id]);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async sendToOne(app: string, req: SendRequest, device: string): Promise<string[]> {
    const now = this.d.clock.now();
    const ttlSec = this.ttlSecOf(req);
    const shard = await this.shardOfDevice(app, device);
    const id = this.d.ids.next(shard);
    await this.acceptOne(app, req, { device, shard, id }, now, ttlSec);
    return [id];
  }

  private ttlSecOf(req: SendRequest): number {
    const d = this.d.cfg.dispatch;
    return Math.min(req.ttl ?? d.defaultTtlSec, d.maxTtlSec);
  }

  /** The shard of a device: from its current route (its `loc`, else its user), else from the device id. */
  private async shardOfDevice(app: string, device: string, user?: string): Promise<number> {
    let r: Route | undefined;
    try {
      r = await this.d.routes.get(app, device);
    } catch {
      r = undefined;
    }
    return shardOf({ device, user: r?.user ?? user, loc: r?.loc }, this.d.cfg.shards);
  }

  private async sendToMany(app: string, req: SendRequest): Promise<string[]> {
    const { clock, messages } = this.d;
    const now = clock.now();
    const ttlSec = this.ttlSecOf(req);
    const targets = await this.resolveTargets(app, req);
    const planned = targets.map((t) => ({ device: t.device, shard: t.shard, id: this.d.ids.next(t.shard) }));
    if (req.idempotencyKey) {
      const ids = planned.map((p) => p.id);
      const stored = await messages.rememberIdempotency(app, req.idempotencyKey, ids, now);
      if (stored.join() !== ids.join()) {
        // The key was used before: same answer, nothing sent again — except what the first request
        // may have left undone if its node died after remembering the key (see completeReplay).
        await this.completeReplay(app, req, stored, targets, ttlSec);
        return stored;
      }
    }
    // One target is the common case: no array of promises for it.
    if (planned.length === 1) await this.acceptOne(app, req, planned[0]!, now, ttlSec);
    else await Promise.all(planned.map((t) => this.acceptOne(app, req, t, now, ttlSec)));
    return planned.map((p) => p.id);
  }

  /** Records one target's message and queues its job (or hands it to its shard's ezone). */
  private acceptOne(
    app: string,
    req: SendRequest,
    t: { device: string; shard: number; id: string },
    now: number,
    ttlSec: number,
  ): Promise<void> {
    const rec = recordOf(app, req, t.device, t.id, now, ttlSec);
    const job = jobOf(rec);
    const queue = pushQueueOf(app, this.d.cfg.dispatch.dedicatedApps);
    // A push is processed in its shard's ezone: hand it over when that is another one.
    const home = this.d.shardHome?.(t.shard);
    if (home !== undefined && home !== this.d.ezone && this.d.handoff) {
      return this.handOffOrKeep(home, rec, job, queue);
    }
    return this.keepAndQueue(rec, job, queue);
  }

  private async handOffOrKeep(home: string, rec: MessageRecord, job: PushJob, queue: string): Promise<void> {
    try {
      await this.d.handoff!(home, rec, job, queue, PRIORITY_LEVEL[rec.priority]);
      this.d.telemetry.count('push.accepted');
      this.d.telemetry.count('push.handed_off');
      return;
    } catch {
      // The link is down: processing it here beats refusing it (its ACK still finds it here).
      this.d.telemetry.count('push.handoff_failed');
    }
    await this.keepAndQueue(rec, job, queue);
  }

  /** Records the message here and publishes its job to this ezone's queue. */
  private async keepAndQueue(rec: MessageRecord, job: PushJob, queue: string): Promise<void> {
    const { clock, messages } = this.d;
    await messages.create(rec);
    this.d.telemetry.count('push.accepted');
    // `queued` is recorded before the publish: a consumer on another node may record
    // `sent` as soon as the job is in the broker, and history must stay in order.
    await messages.transition(rec.id, 'queued', clock.now());
    try {
      await this.d.queue.publish(queue, job, { priority: PRIORITY_LEVEL[rec.priority] });
    } catch (e) {
      await messages.transition(rec.id, 'failed', clock.now()).catch(() => {});
      throw e;
    }
  }

  /**
   * A replayed idempotency key whose first request may have died half-way (its node SIGKILLed after
   * `rememberIdempotency` but before every message was created and its job published): the retry
   * must not answer with ids that are never delivered (found by test/multinode/sigkill.test.ts:
   * such ids answered 404, or stayed `queued` without a job until `expired`). Creating is idempotent
   * and a job may come twice (settled messages are skipped, the SDK dedups), so whatever is not
   * visibly past `queued` is created and/or published again. A missing message is matched to its
   * device by position (`to.devices` keeps its order), only when the counts agree; messages whose
   * shard another ezone processes were handed off there and are left alone.
   */
  private async completeReplay(
    app: string,
    req: SendRequest,
    stored: string[],
    targets: { device: string; shard: number }[],
    ttlSec: number,
  ): Promise<void> {
    const { clock, messages, cfg } = this.d;
    const queue = pushQueueOf(app, cfg.dispatch.dedicatedApps);
    await Promise.all(
      stored.map(async (id, i) => {
        const minted = decodeMsgId(id);
        const home = this.d.shardHome?.(minted.shard);
        if (home !== undefined && home !== this.d.ezone) return;
        let rec = await messages.get(id);
        if (!rec) {
          const device = stored.length === targets.length ? targets[i]?.device : undefined;
          if (device === undefined) return;
          // The first request's acceptance time is in the id: the TTL still counts from it.
          const createdAt = minted.timeMs;
          rec = {
            id,
            app,
            device,
            kind: req.kind,
            title: req.title,
            body: req.body,
            data: req.data,
            priority: req.priority,
            createdAt,
            expiresAt: createdAt + ttlSec * 1000,
            status: 'accepted',
            channel: null,
            history: [{ status: 'accepted', at: createdAt }],
          };
          await messages.create(rec);
        }
        if (rec.app !== app || (rec.status !== 'accepted' && rec.status !== 'queued')) return;
        if (clock.now() >= rec.expiresAt) return; // the expiry sweep reports it
        if (rec.status === 'accepted') await messages.transition(id, 'queued', clock.now());
        const job: PushJob = {
          id,
          app,
          device: rec.device,
          priority: rec.priority,
          expiresAt: rec.expiresAt,
          attempt: 0,
        };
        await this.d.queue.publish(queue, job, { priority: PRIORITY_LEVEL[rec.priority] });
      }),
    );
  }

  private async resolveTargets(app: string, req: SendRequest): Promise<{ device: string; shard: number }[]> {
    // The shard comes from the device's current route (its `loc`, else its user) whatever the
    // targeting, so every message to one device carries the same shard.
    const withShard = async (device: string, user?: string) => ({
      device,
      shard: await this.shardOfDevice(app, device, user),
    });
    const to = req.to;
    if ('devices' in to) {
      return Promise.all([...new Set(to.devices)].map((device) => withShard(device)));
    }
    if ('users' in to) {
      const out: { device: string; shard: number }[] = [];
      for (const user of new Set(to.users)) {
        for (const device of await this.d.routes.devicesOfUser(app, user)) {
          out.push(await withShard(device, user));
        }
      }
      return out;
    }
    const devices = await this.d.routes.devicesOfApp(app);
    return Promise.all(devices.map((device) => withShard(device)));
  }

  // ---------- consume ----------

  async start(): Promise<void> {
    const { cfg, clock } = this.d;
    const queues = [SHARED_PUSH_QUEUE, ...cfg.dispatch.dedicatedApps.map((a) => `push.app.${a}`)];
    for (const q of queues) {
      const handle = await this.d.queue.consume<PushJob>(q, (del) => this.onJob(del), {
        concurrency: this.concurrency,
      });
      this.consumers.set(q, handle);
      this.concurrencyOf.set(q, this.concurrency);
    }
    const failed = (what: string) => () => this.d.telemetry.count(what);
    this.timers.push(
      clock.setInterval(
        () => this.sweepExpired().catch(failed('dispatch.sweep_failed')),
        cfg.dispatch.expirySweepMs,
      ),
    );
    if (cfg.dispatch.consumers.autoscale) {
      this.timers.push(
        clock.setInterval(
          () => this.autoscale().catch(failed('dispatch.autoscale_failed')),
          cfg.dispatch.consumers.scaleIntervalMs,
        ),
      );
    }
  }

  /** Consumer count follows the backlog within [min, max] (incident mq-backlog). */
  private async autoscale(): Promise<void> {
    const c = this.d.cfg.dispatch.consumers;
    for (const [q, handle] of this.consumers) {
      const stats = await this.d.queue.stats(q).catch(() => undefined);
      if (!stats) continue;
      const want = Math.max(c.min, Math.min(c.max, Math.ceil(stats.ready / c.backlogPerConsumer)));
      if (want !== this.concurrencyOf.get(q)) {
        this.concurrencyOf.set(q, want);
        handle.setConcurrency(want);
        this.d.telemetry.gauge('dispatch.consumers', want);
      }
    }
    this.concurrency = Math.max(c.min, ...this.concurrencyOf.values());
  }

  /** Sets the consumer count by hand (operations); autoscaling may move it again. */
  setConsumers(n: number): void {
    this.concurrency = n;
    for (const [q, h] of this.consumers) {
      this.concurrencyOf.set(q, n);
      h.setConcurrency(n);
    }
  }

  private onJob(del: QueueDelivery<PushJob>): Promise<void> {
    if (this.stopped) return Promise.reject(new TacoError('CANCELLED', 'dispatcher stopping'));
    const job = del.body;
    // A redelivered job for a message we are already tracking (or handling) is a duplicate.
    if (this.pending.has(job.id) || this.inFlight.has(job.id)) return DONE;
    const messages = syncOf<SyncMessageStore>(this.d.messages);
    const routes = syncOf<SyncRouteStore>(this.d.routes);
    if (!messages || !routes) return this.runJob(job);
    // Nothing else runs while attemptNow is synchronous: the job is in flight (a redelivery of it
    // must wait) only from when it returns a promise — a Set add and delete per push saved.
    let rest: Promise<void> | undefined;
    try {
      rest = this.attemptNow(job.id, job.attempt, messages, routes);
    } catch (e) {
      this.inFlight.add(job.id);
      return this.jobFailed(job.id, e);
    }
    if (rest === undefined) return DONE;
    this.inFlight.add(job.id);
    return rest.then(
      () => {
        this.inFlight.delete(job.id);
      },
      (e) => this.jobFailed(job.id, e),
    );
  }

  private async runJob(job: PushJob): Promise<void> {
    this.inFlight.add(job.id);
    try {
      await this.attempt(job.id, job.attempt);
    } catch (e) {
      return this.jobFailed(job.id, e);
    }
    this.inFlight.delete(job.id);
  }

  /**
   * An engine failed the attempt (the store is down): the job goes back to the broker, but not at
   * once — an immediate redelivery spins on the outage (a core's worth of store reads for one job,
   * measured in the MariaDB-down drill). Holding the consumer slot meanwhile throttles the rest.
   */
  private async jobFailed(id: string, e: unknown): Promise<never> {
    try {
      this.d.telemetry.count('dispatch.job_failed');
      await this.pause(this.d.cfg.dispatch.retryBaseMs * (0.5 + this.d.random.next() / 2));
      throw e;
    } finally {
      this.inFlight.delete(id);
    }
  }

  /** Waits `ms` on the node's clock; cut short when the dispatcher stops. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        timer.cancel();
        this.pauses.delete(wake);
        resolve();
      };
      const timer = this.d.clock.setTimeout(wake, ms);
      this.pauses.add(wake);
    });
  }

  /** One delivery attempt. Never throws for per-message problems: they become retries or statuses. */
  private async attempt(id: string, attempt: number): Promise<void> {
    const { clock, messages, telemetry } = this.d;
    const rec = await messages.get(id);
    if (!rec || isSettled(rec.status)) {
      this.forget(id);
      return;
    }
    const now = clock.now();
    if (now >= rec.expiresAt) {
      await this.expire(rec.id);
      return;
    }
    let outcome: 'sent' | 'offline' | 'error';
    try {
      outcome = await this.deliver(rec);
    } catch {
      outcome = 'error';
      telemetry.count('dispatch.deliver_error');
    }
    if (outcome === 'sent') {
      await messages.transition(id, 'sent', clock.now(), 'ws');
      this.armAckTimer(rec, attempt);
    } else if (outcome === 'offline') {
      telemetry.count('push.offline');
      // Offline: delivered at the next sign-in, or by a third-party channel now.
      this.forget(id);
      await this.fallback(rec);
    } else {
      this.scheduleRetry(rec, attempt + 1);
    }
  }

  /**
   * `attempt` on engines that answer at once, for a device signed in on this node: the same steps in
   * the same order. Returns a promise only for what must wait (a third-party fallback, or the whole
   * attempt when the device is on another node).
   */
  private attemptNow(
    id: string,
    attempt: number,
    messages: SyncMessageStore,
    routes: SyncRouteStore,
  ): Promise<void> | undefined {
    const { clock, telemetry } = this.d;
    const rec = messages.getSync(id);
    if (!rec || isSettled(rec.status)) {
      this.forget(id);
      return undefined;
    }
    if (clock.now() >= rec.expiresAt) {
      this.forget(id);
      if (messages.transitionSync(id, 'expired', clock.now())) telemetry.count('push.expired');
      return undefined;
    }
    let outcome: 'sent' | 'offline' | 'error';
    try {
      const route = routes.getSync(rec.app, rec.device);
      if (route !== undefined && (route.node !== this.d.node || route.ezone !== this.d.ezone)) {
        return this.attemptRemote(rec, route, attempt);
      }
      outcome =
        route !== undefined && this.d.gateway.deliver(rec.app, rec.device, route.session, pushFrameOf(rec))
          ? 'sent'
          : 'offline';
    } catch {
      outcome = 'error';
      telemetry.count('dispatch.deliver_error');
    }
    if (outcome === 'sent') {
      messages.transitionSync(id, 'sent', clock.now(), 'ws');
      this.armAckTimer(rec, attempt);
    } else if (outcome === 'offline') {
      telemetry.count('push.offline');
      this.forget(id);
      if (this.d.channels.size > 0) return this.fallback(rec);
    } else {
      this.scheduleRetry(rec, attempt + 1);
    }
    return undefined;
  }

  /**
   * The rest of `attempt` for a device signed in on another node, once its record and route have
   * been read at once (attemptNow): the RPC, then what `attempt` does with its outcome. The store is
   * asked again for its synchronous view after the RPC: an outage may have begun meanwhile.
   */
  private async attemptRemote(rec: MessageRecord, route: Route, attempt: number): Promise<void> {
    const { clock, telemetry } = this.d;
    let outcome: 'sent' | 'offline' | 'error';
    try {
      outcome = await this.deliverRemote(rec, route);
    } catch {
      outcome = 'error';
      telemetry.count('dispatch.deliver_error');
    }
    if (outcome === 'sent') {
      const messages = syncOf<SyncMessageStore>(this.d.messages);
      if (messages) messages.transitionSync(rec.id, 'sent', clock.now(), 'ws');
      else await this.d.messages.transition(rec.id, 'sent', clock.now(), 'ws');
      this.armAckTimer(rec, attempt);
    } else if (outcome === 'offline') {
      telemetry.count('push.offline');
      this.forget(rec.id);
      await this.fallback(rec);
    } else {
      this.scheduleRetry(rec, attempt + 1);
    }
  }

  private async deliver(rec: MessageRecord): Promise<'sent' | 'offline'> {
    const route = await this.d.routes.get(rec.app, rec.device);
    if (!route) return 'offline';
    const frame = pushFrameOf(rec);
    if (route.node === this.d.node && route.ezone === this.d.ezone) {
      return this.d.gateway.deliver(rec.app, rec.device, route.session, frame) ? 'sent' : 'offline';
    }
    return this.deliverRemote(rec, route, frame);
  }

  /** Delivery through the node the device is signed in on. */
  private async deliverRemote(
    rec: MessageRecord,
    route: Route,
    frame: PushFrame = pushFrameOf(rec),
  ): Promise<'sent' | 'offline'> {
    const deadline = this.d.cfg.dispatch.rpcDeadlineMs;
    const r = await this.d.rpc.deliver(
      route.node,
      { app: rec.app, device: rec.device, session: route.session, frame },
      deadline > 0 ? deadline : Number.POSITIVE_INFINITY,
    );
    return r === 'sent' ? 'sent' : 'offline';
  }

  private armAckTimer(rec: MessageRecord, attempt: number): void {
    const p = this.pending.get(rec.id) ?? { attempt, timer: undefined, fellBack: false };
    p.timer?.cancel();
    p.attempt = attempt;
    p.timer = this.d.clock.setTimeout(() => {
      p.timer = undefined;
      if (this.ackedElsewhere(rec.id)) return;
      this.onAckTimeout(rec, p).catch(() => this.attemptFailed(rec, p.attempt));
    }, this.d.cfg.dispatch.ackTimeoutMs);
    this.pending.set(rec.id, p);
  }

  /**
   * An ACK timer's first question on a store that answers at once: did the ACK land on another node
   * (the device's gateway, when this node delivered through it)? Then nothing is left to do here,
   * and no async step is taken for it — most pushes of a multi-node ezone end this way.
   */
  private ackedElsewhere(id: string): boolean {
    const messages = syncOf<SyncMessageStore>(this.d.messages);
    if (!messages) return false;
    let cur: MessageRecord | undefined;
    try {
      cur = messages.getSync(id);
    } catch {
      return false; // onAckTimeout asks again, the way it handles a failing store
    }
    if (!cur || !isSettled(cur.status)) return false;
    this.forget(id);
    return true;
  }

  private async onAckTimeout(rec: MessageRecord, p: Pending): Promise<void> {
    const { cfg, clock } = this.d;
    // The ACK may have landed on another node (the device's gateway): the store knows.
    const cur = await this.d.messages.get(rec.id).catch(() => undefined);
    if (cur && isSettled(cur.status)) {
      this.forget(rec.id);
      return;
    }
    const now = clock.now();
    if (!p.fellBack && now - rec.createdAt >= cfg.dispatch.fallbackAfterMs) {
      p.fellBack = true;
      await this.fallback(rec);
    }
    this.scheduleRetry(rec, p.attempt + 1);
  }

  private scheduleRetry(rec: MessageRecord, attempt: number): void {
    const { cfg, clock, random, telemetry } = this.d;
    const delay = backoffDelayMs(
      { baseMs: cfg.dispatch.retryBaseMs, maxMs: cfg.dispatch.retryMaxMs, jitter: 'full' },
      attempt,
      () => random.next(),
    );
    const p = this.pending.get(rec.id) ?? { attempt, timer: undefined, fellBack: false };
    p.timer?.cancel();
    p.attempt = attempt;
    if (clock.now() + delay >= rec.expiresAt) {
      // No time left for another try: expired at its TTL (by the sweeper or by this timer, whichever
      // comes first). The timer also forgets a message the sweeper will not report (status `fallback`).
      p.timer = clock.setTimeout(
        () => {
          p.timer = undefined;
          // A store that fails now leaves the message to the expiry sweep, which reports it later.
          this.expire(rec.id).catch(() => telemetry.count('dispatch.expire_failed'));
        },
        Math.max(0, rec.expiresAt - clock.now()),
      );
      this.pending.set(rec.id, p);
      return;
    }
    telemetry.count('push.retry');
    p.timer = clock.setTimeout(() => {
      p.timer = undefined;
      this.attempt(rec.id, attempt).catch(() => this.attemptFailed(rec, attempt));
    }, delay);
    this.pending.set(rec.id, p);
  }

  private async fallback(rec: MessageRecord): Promise<void> {
    const { messages, channels, clock, telemetry } = this.d;
    if (channels.size === 0) return;
    const regs = await messages.channelsOf(rec.app, rec.device).catch(() => []);
    for (const { channel, token } of regs) {
      const ch = channels.get(channel);
      if (!ch) continue;
      try {
        await ch.send(token, rec, this.d.cfg.dispatch.rpcDeadlineMs || 5_000);
        await messages.transition(rec.id, 'fallback', clock.now(), channel);
        telemetry.count('push.fallback');
        return;
      } catch {
        telemetry.count('push.fallback_failed');
      }
    }
  }

  /**
   * A timer-driven attempt failed on an engine (the store or the broker is down): never an unhandled
   * rejection (it ends the process), and never the end of the message's retries — the next one is
   * scheduled as for a failed delivery, until the TTL.
   */
  private attemptFailed(rec: MessageRecord, attempt: number): void {
    this.d.telemetry.count('dispatch.attempt_failed');
    if (!this.stopped) this.scheduleRetry(rec, attempt + 1);
  }

  private forget(id: string): void {
    const p = this.pending.get(id);
    if (p) {
      p.timer?.cancel();
      this.pending.delete(id);
    }
  }

  private async expire(id: string): Promise<void> {
    this.forget(id);
    if (await this.d.messages.transition(id, 'expired', this.d.clock.now()))
      this.d.telemetry.count('push.expired');
  }

  private async sweepExpired(): Promise<void> {
    const ids = await this.d.messages.expireDue(this.d.clock.now(), 10_000).catch(() => [] as string[]);
    for (const id of ids) {
      this.forget(id);
      this.d.telemetry.count('push.expired');
    }
  }

  // ---------- from the gateway ----------

  /**
   * An ACK from a device signed in on this node. Only the device's own messages count. `known` is
   * the record when the caller has just read it (the ACK router does), saving a second read.
   */
  onAck(app: string, device: string, id: string, status: AckStatus, known?: MessageRecord): Promise<void> {
    const messages = syncOf<SyncMessageStore>(this.d.messages);
    if (!messages) return this.onAckAsync(app, device, id, status, known);
    try {
      const rec = known ?? messages.getSync(id);
      if (!rec || rec.app !== app || rec.device !== device) {
        this.d.telemetry.count('ack.unknown');
        return DONE;
      }
      const now = this.d.clock.now();
      const wasDelivered = isDelivered(rec.status);
      let changed = false;
      if (!wasDelivered) changed = messages.transitionSync(id, 'delivered', now);
      if (status !== 'received') changed = messages.transitionSync(id, ACK_TO_STATUS[status], now) || changed;
      this.acked(rec, id, wasDelivered, changed, now);
      return DONE;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async onAckAsync(
    app: string,
    device: string,
    id: string,
    status: AckStatus,
    known?: MessageRecord,
  ): Promise<void> {
    const { messages, clock, telemetry } = this.d;
    const rec = known ?? (await messages.get(id));
    if (!rec || rec.app !== app || rec.device !== device) {
      telemetry.count('ack.unknown');
      return;
    }
    const now = clock.now();
    const wasDelivered = isDelivered(rec.status);
    let changed = false;
    if (!wasDelivered) changed = await messages.transition(id, 'delivered', now);
    if (status !== 'received')
      changed = (await messages.transition(id, ACK_TO_STATUS[status], now)) || changed;
    this.acked(rec, id, wasDelivered, changed, now);
  }

  private acked(rec: MessageRecord, id: string, wasDelivered: boolean, changed: boolean, now: number): void {
    if (!wasDelivered && changed) {
      this.d.telemetry.count('push.delivered');
      this.d.telemetry.observe('push.latency', now - rec.createdAt);
    }
    this.forget(id);
  }

  /** A device signed in here: send its pending, unexpired messages. */
  async onSignedIn(app: string, device: string, session: string): Promise<void> {
    const { messages, clock, gateway } = this.d;
    const recs = await messages.pendingFor(app, device, clock.now(), this.d.cfg.gateway.maxPendingOnSignIn);
    for (const rec of recs) {
      if (!gateway.deliver(app, device, session, pushFrameOf(rec))) return;
      await messages.transition(rec.id, 'sent', clock.now(), 'ws');
      this.armAckTimer(rec, this.pending.get(rec.id)?.attempt ?? 0);
    }
  }

  /**
   * The device signed in in another ezone (a replicated route): send it the
   * pending messages this ezone holds for it, through that node.
   */
  async onSignedInElsewhere(route: Route): Promise<void> {
    const { messages, clock, rpc, cfg } = this.d;
    if (this.stopped || (route.node === this.d.node && route.ezone === this.d.ezone)) return;
    const recs = await messages.pendingFor(
      route.app,
      route.device,
      clock.now(),
      cfg.gateway.maxPendingOnSignIn,
    );
    const deadline = cfg.dispatch.rpcDeadlineMs > 0 ? cfg.dispatch.rpcDeadlineMs : Number.POSITIVE_INFINITY;
    for (const rec of recs) {
      // Messages waiting for an ACK or a retry are already handled: their next attempt finds the new route.
      if (this.pending.has(rec.id) || this.inFlight.has(rec.id)) continue;
      const r = await rpc.deliver(
        route.node,
        { app: rec.app, device: rec.device, session: route.session, frame: pushFrameOf(rec) },
        deadline,
      );
      if (r !== 'sent') return;
      await messages.transition(rec.id, 'sent', clock.now(), 'ws');
      this.armAckTimer(rec, 0);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.timers.length = 0;
    for (const wake of [...this.pauses]) wake();
    for (const h of this.consumers.values()) await h.cancel().catch(() => {});
    this.consumers.clear();
    this.concurrencyOf.clear();
    for (const p of this.pending.values()) p.timer?.cancel();
    this.pending.clear();
  }
}

export function pushFrameOf(rec: MessageRecord): PushFrame {
  const f: PushFrame = { op: 'push', id: rec.id, kind: rec.kind, ts: rec.createdAt };
  if (rec.title !== undefined) f.title = rec.title;
  if (rec.body !== undefined) f.body = rec.body;
  if (rec.data !== undefined) f.data = rec.data;
  return f;
}

/** The record of a push just accepted; optional fields only when set, as the store's own copy has them. */
function recordOf(
  app: string,
  req: SendRequest,
  device: string,
  id: string,
  now: number,
  ttlSec: number,
): MessageRecord {
  const rec: MessageRecord = {
    id,
    app,
    device,
    kind: req.kind,
    priority: req.priority,
    createdAt: now,
    expiresAt: now + ttlSec * 1000,
    status: 'accepted',
    channel: null,
    history: [{ status: 'accepted', at: now }],
  };
  if (req.title !== undefined) rec.title = req.title;
  if (req.body !== undefined) rec.body = req.body;
  if (req.data !== undefined) rec.data = req.data;
  return rec;
}

function jobOf(rec: MessageRecord): PushJob {
  return {
    id: rec.id,
    app: rec.app,
    device: rec.device,
    priority: rec.priority,
    expiresAt: rec.expiresAt,
    attempt: 0,
  };
}
