/**
 * Routes with MySQL as the source of truth and Redis as the read cache.
 *
 * - Writes go to MySQL first (they fail only if MySQL fails), then to Redis.
 *   Both sides apply the same last-writer-wins and session rules, so the order
 *   two nodes' writes reach each side does not matter.
 * - Reads come from Redis while the cache is `ready`, else from MySQL: while
 *   Redis is down, while the cache is checked after a (re)connect, and while
 *   it is rebuilt. A failed Redis read falls back to MySQL too, and so does a
 *   read of a key whose last write did not reach Redis (until it is repaired).
 * - After every (re)connect, and every `verifyMs` while connected, the cache
 *   is checked: a missing marker key means Redis lost its data (restart
 *   without persistence), and the cache is rebuilt from MySQL — by one node,
 *   under a lock; the others wait for the marker. On a Cluster there is one
 *   marker per master (in a slot that master serves, by hash tag), because a
 *   master that restarts empty does not drop the client's connection to the
 *   others: only its own marker tells. Reads use MySQL while rebuilding.
 *   Writes this node could not send to Redis ("dirty" keys: Redis, or a
 *   Cluster master, was down, or a command timed out) are repaired one by one
 *   from MySQL — after the reconnect, or shortly after the failed write when
 *   the connection stayed up; past `maxDirty` of them, every
 *   route is re-put instead (removals missed during such an outage stay until
 *   the device's next sign-in or reap — a stale route only costs a failed
 *   delivery attempt, which counts the device as offline).
 */
import { randomUUID } from 'node:crypto';
import type { Route, RouteStore } from '../../core/ports.js';
import { withDeadline } from '../deadline.js';
import type { MysqlRouteStore } from '../mysql/route-store.js';
import { isRedisReady, keyPerMaster, type RedisClient } from './client.js';
import type { RedisRouteStore } from './route-store.js';

export type CacheState = 'down' | 'checking' | 'rebuilding' | 'ready';

export interface WriteThroughOptions {
  log?: (msg: string) => void;
  /** Rows per step when rebuilding. */
  rebuildBatch?: number;
  /** Keys remembered while Redis is unreachable before falling back to a full re-put. */
  maxDirty?: number;
  /** Lease of the rebuild lock (another node takes over if the builder dies). */
  rebuildLockMs?: number;
  /** How often a node waiting for another's rebuild looks for the marker; also the retry delay of a failed check. */
  pollMs?: number;
  /** How often the markers are checked while connected (a Cluster master that restarted empty); 0 = never. */
  verifyMs?: number;
}

const key = (app: string, device: string) => `${app}\u0000${device}`;

/** Keyset pagination: fetches pages after the last row of the previous one until a page is empty. */
async function forEachPage<T>(
  fetch: (after: T | undefined) => Promise<T[]>,
  each: (page: T[]) => Promise<unknown>,
): Promise<void> {
  let after: T | undefined;
  for (;;) {
    const page = await fetch(after);
    if (page.length === 0) return;
    await each(page);
    after = page[page.length - 1];
  }
}

export class WriteThroughRouteStore implements RouteStore {
  private state: CacheState = 'down';
  /** Bumped whenever Redis drops, so a check that raced a drop never declares the cache ready. */
  private generation = 0;
  /** Keys whose last write may be missing from Redis; `stamp` tells a repaired entry from a re-dirtied one. */
  private readonly dirty = new Map<string, { app: string; device: string; stamp: number }>();
  private stamps = 0;
  private overflow = false;
  private syncing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly verifyTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly log: (msg: string) => void;
  private readonly opts: Required<Omit<WriteThroughOptions, 'log'>>;
  private readonly onReady = () => this.startSync();
  private readonly onDown = () => {
    this.generation++;
    this.state = 'down';
  };

  constructor(
    private readonly client: RedisClient,
    readonly cache: RedisRouteStore,
    readonly truth: MysqlRouteStore,
    opts: WriteThroughOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.opts = {
      rebuildBatch: opts.rebuildBatch ?? 500,
      maxDirty: opts.maxDirty ?? 10_000,
      rebuildLockMs: opts.rebuildLockMs ?? 60_000,
      pollMs: opts.pollMs ?? 250,
      verifyMs: opts.verifyMs ?? 5_000,
    };
    client.on('ready', this.onReady);
    client.on('close', this.onDown);
    client.on('end', this.onDown);
    if (this.opts.verifyMs > 0) {
      this.verifyTimer = setInterval(() => {
        if (this.state === 'ready' && isRedisReady(this.client)) this.startSync();
      }, this.opts.verifyMs);
      this.verifyTimer.unref();
    }
  }

  get cacheState(): CacheState {
    return this.state;
  }

  /** Keys waiting to be repaired in Redis (tests, metrics). */
  get pendingRepairs(): number {
    return this.overflow ? Number.POSITIVE_INFINITY : this.dirty.size;
  }

  /** `{prefix}built` on a standalone Redis; `{prefix}built:{n}`, one per master, on a Cluster. */
  markerKeys(): string[] {
    return keyPerMaster(this.client, `${this.cache.prefix}built`);
  }

  private async markersPresent(keys: string[]): Promise<boolean> {
    // One EXISTS per key: on a Cluster they live in different slots.
    const found = await Promise.all(keys.map((k) => this.client.exists(k)));
    return found.every((n) => n === 1);
  }
  private get lockKey() {
    return `${this.cache.prefix}rebuild-lock`;
  }

  /** Checks (and if needed rebuilds) the cache, waiting at most `timeoutMs`; reads use MySQL until it is ready. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (isRedisReady(this.client)) this.startSync();
    if (this.syncing)
      await withDeadline(this.syncing, timeoutMs, 'route cache check').catch((e: Error) =>
        this.log(`route cache not ready yet, serving routes from MySQL: ${e.message}`),
      );
  }

  /** Resolves once the cache is ready (tests and drills), or rejects after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.state !== 'ready') {
      if (Date.now() >= until) throw new Error(`route cache still ${this.state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private startSync(): void {
    if (this.closed || this.syncing) return;
    const gen = this.generation;
    // Ready already (a write timed out, or the periodic check): reads stay on Redis unless a marker
    // is missing; dirty keys are read from MySQL meanwhile.
    if (this.state !== 'ready') this.state = 'checking';
    this.syncing = this.sync(gen)
      .then(() => {
        if (gen === this.generation && !this.closed) this.state = 'ready';
      })
      .catch((e: Error) => this.log(`route cache check failed: ${e.message}`))
      .finally(() => {
        this.syncing = undefined;
        // A drop or a failure during the check, or keys still dirty: go again once Redis answers.
        const again = this.state !== 'ready' || this.dirty.size > 0 || this.overflow;
        if (again && !this.closed && isRedisReady(this.client)) this.scheduleRetry();
      });
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startSync();
    }, this.opts.pollMs);
    this.retryTimer.unref();
  }

  private async sync(gen: number): Promise<void> {
    const redis = this.client;
    let markers = this.markerKeys();
    while (!(await this.markersPresent(markers))) {
      if (gen !== this.generation || this.closed) return;
      this.state = 'rebuilding';
      const token = randomUUID();
      if ((await redis.set(this.lockKey, token, 'PX', this.opts.rebuildLockMs, 'NX')) === 'OK') {
        this.log('route cache is empty (or a Cluster master lost its data): rebuilding it from MySQL');
        await this.rebuildAll();
        // The slot map may have changed meanwhile: mark every master of the current one.
        markers = this.markerKeys();
        await Promise.all(markers.map((k) => redis.set(k, String(Date.now()))));
        if ((await redis.get(this.lockKey)) === token) await redis.del(this.lockKey);
        this.log('route cache rebuilt');
      } else {
        await new Promise((r) => setTimeout(r, this.opts.pollMs));
        markers = this.markerKeys();
      }
    }
    await this.repair();
  }

  /**
   * Rebuilds, then forgets the dirty keys — unless a write failed during the
   * rebuild (it may have been scanned before it happened): those stay.
   */
  private async rebuildAll(): Promise<void> {
    const stamp = this.stamps;
    await this.rebuild();
    if (this.stamps === stamp) {
      this.dirty.clear();
      this.overflow = false;
    }
  }

  /** Re-puts every route and membership from MySQL (compare-and-set, so concurrent newer writes win). */
  private async rebuild(): Promise<void> {
    const n = this.opts.rebuildBatch;
    await forEachPage<Route>(
      (after) => this.truth.scanRoutes(after, n),
      (page) => Promise.all(page.map((r) => this.cache.putIfNewer(r))),
    );
    await forEachPage<{ app: string; user: string; device: string }>(
      (after) => this.truth.scanUserDevices(after, n),
      (page) => Promise.all(page.map((m) => this.cache.addMembership(m.app, m.device, m.user))),
    );
    await forEachPage<{ app: string; device: string }>(
      (after) => this.truth.scanAppDevices(after, n),
      (page) => Promise.all(page.map((m) => this.cache.addMembership(m.app, m.device, undefined))),
    );
  }

  /** Brings the keys this node failed to write to Redis in line with MySQL. */
  private async repair(): Promise<void> {
    if (this.overflow) {
      this.log('route cache: too many writes missed; re-putting every route from MySQL');
      await this.rebuildAll();
      if (this.overflow) return; // missed more writes meanwhile: the next pass goes again
    }
    for (const [k, { app, device, stamp }] of [...this.dirty]) {
      // Read Redis before MySQL: a write racing us reaches MySQL first, so we either see it in
      // MySQL or our Redis version is older than it and the versioned delete leaves it alone.
      const cached = await this.cache.get(app, device);
      const truth = await this.truth.get(app, device);
      if (truth) await this.cache.putIfNewer(truth);
      else if (cached) await this.cache.removeIfVersion(cached);
      // Dirtied again meanwhile? Then it stays for the next pass.
      if (this.dirty.get(k)?.stamp === stamp) this.dirty.delete(k);
    }
  }

  private markDirty(app: string, device: string): void {
    this.stamps++;
    if (this.overflow) return;
    if (this.dirty.size >= this.opts.maxDirty) {
      this.overflow = true;
      this.dirty.clear();
      return;
    }
    this.dirty.set(key(app, device), { app, device, stamp: this.stamps });
  }

  /** Sends a write to Redis if it is connected; a write it cannot take is remembered for repair. */
  private async toCache(app: string, device: string, op: () => Promise<unknown>): Promise<void> {
    if (!isRedisReady(this.client)) return this.markDirty(app, device);
    try {
      await op();
    } catch (e) {
      this.markDirty(app, device);
      this.log(`route cache write failed (repaired from MySQL shortly): ${(e as Error).message}`);
      // Still connected (a timeout, not a drop): no reconnect will come to trigger the repair.
      this.scheduleRetry();
    }
  }

  /** Reads the cache when it is ready and `trusted`, else (or when the cache fails) MySQL. */
  private async read<T>(
    trusted: boolean,
    fromCache: () => Promise<T>,
    fromTruth: () => Promise<T>,
  ): Promise<T> {
    if (this.state === 'ready' && trusted) {
      try {
        return await fromCache();
      } catch (e) {
        this.log(`route cache read failed, reading MySQL: ${(e as Error).message}`);
      }
    }
    return fromTruth();
  }

  /** Whether the cache may lack writes: then membership (sets only grow) comes from MySQL. */
  private get membershipDirty(): boolean {
    return this.overflow || this.dirty.size > 0;
  }

  async put(route: Route): Promise<void> {
    await this.truth.putIfNewer(route);
    await this.toCache(route.app, route.device, () => this.cache.putIfNewer(route));
  }

  async remove(app: string, device: string, session: string): Promise<void> {
    await this.truth.remove(app, device, session);
    await this.toCache(app, device, () => this.cache.remove(app, device, session));
  }

  get(app: string, device: string): Promise<Route | undefined> {
    return this.read(
      !this.overflow && !this.dirty.has(key(app, device)),
      () => this.cache.get(app, device),
      () => this.truth.get(app, device),
    );
  }

  devicesOfUser(app: string, user: string): Promise<string[]> {
    return this.read(
      !this.membershipDirty,
      () => this.cache.devicesOfUser(app, user),
      () => this.truth.devicesOfUser(app, user),
    );
  }

  devicesOfApp(app: string): Promise<string[]> {
    return this.read(
      !this.membershipDirty,
      () => this.cache.devicesOfApp(app),
      () => this.truth.devicesOfApp(app),
    );
  }

  /** Detaches from the client (which the caller owns) and stops pending retries. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    this.retryTimer = undefined;
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onDown);
    this.client.off('end', this.onDown);
  }
}
