/**
 * The shard map ("GZS", SPEC §1): `shard → ezone` says where the pushes of a
 * shard are processed (and where ACKs of its messages go); `region → ezone`
 * says which ezone's gateways a region's clients connect to (the HTTP-DNS
 * answer of `GET /v1/dispatch`). Every version is a whole, validated map with
 * who changed it, when, and what the change was; versions only grow by one.
 *
 * Pure functions here (create, validate, apply, diff, plan) are shared by the
 * admin endpoint, `taco failover`, the nodes and the simulator, so a drill and
 * a simulated fault take exactly the same path. `ShardMapView` is a node's
 * copy of the current map; `ShardMapFollower` keeps it current from a
 * ShardMapStore (its notifications, plus a periodic reconcile on the node's
 * Scheduler, so a missed notification costs at most one reconcile period).
 */
import type { Scheduler, TimerHandle } from './clock.js';
import { TacoError } from './errors.js';
import type { ShardMapStore, Telemetry } from './ports.js';

/** Largest shard count: message ids carry the shard in 5 bits (msgid.ts). */
export const MAX_SHARDS = 32;

const EZONE_RE = /^[a-z][a-z0-9-]{0,31}$/;
const REGION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** What produced a version of the map: who, when, and the change itself. */
export interface ShardMapChangeInfo {
  kind: 'init' | 'shards' | 'region' | 'rollback';
  /** Operator or process (`taco failover` puts user@host). */
  by: string;
  /** ms since the epoch, on the committer's clock. */
  at: number;
  /** kind `shards`: the shards moved. */
  shards?: number[] | undefined;
  /** kind `region`: the region moved. */
  region?: string | undefined;
  /** kind `shards` / `region`: the ezone they moved to. */
  to?: string | undefined;
  /** kind `rollback`: the version whose content this version restores. */
  restores?: number | undefined;
  /** Free text (a ticket, the drill's name). */
  note?: string | undefined;
}

export interface ShardMapState {
  /** 1 for the first map; +1 per change. */
  version: number;
  /** Every ezone that exists; shards and regions may only name these. */
  ezones: string[];
  /** `shards[s]` = the ezone where pushes of shard s are processed; length = shard count. */
  shards: string[];
  /** region → ezone whose gateways the region's clients use. */
  regions: Record<string, string>;
  change: ShardMapChangeInfo;
}

/** A requested change, before it is validated and numbered. */
export type ShardMapChange =
  | { kind: 'shards'; shards: number[]; to: string }
  | { kind: 'region'; region: string; to: string }
  | { kind: 'rollback'; target: ShardMapState };

export interface ChangeMeta {
  by: string;
  at: number;
  note?: string | undefined;
}

export interface ShardMove {
  shard: number;
  from: string;
  to: string;
}
export interface RegionMove {
  region: string;
  from: string | undefined;
  to: string | undefined;
}
/** What a change would move (the `--dry-run` answer). */
export interface ShardMapPlan {
  shards: ShardMove[];
  regions: RegionMove[];
  /** Ezones added or removed by the change (rollbacks across membership changes). */
  ezonesAdded: string[];
  ezonesRemoved: string[];
}

// ---------- creation and validation ----------

export interface InitialShardMapOptions {
  shards: number;
  ezones: readonly string[];
  /** region → ezone; default each ezone serves the region of its own name. */
  regions?: Readonly<Record<string, string>> | undefined;
  by?: string;
  at: number;
}

/**
 * The first map: shards split in contiguous blocks in the order the ezones are
 * given (30 shards over [sh, bj]: 0-14 → sh, 15-29 → bj).
 */
export function createShardMap(o: InitialShardMapOptions): ShardMapState {
  const n = o.shards;
  const ez = [...o.ezones];
  const shards = Array.from({ length: n }, (_, s) => ez[Math.floor((s * ez.length) / n)] ?? '');
  const regions = o.regions ? { ...o.regions } : Object.fromEntries(ez.map((e) => [e, e]));
  const m: ShardMapState = {
    version: 1,
    ezones: ez,
    shards,
    regions,
    change: { kind: 'init', by: o.by ?? 'taco', at: o.at },
  };
  validateShardMap(m);
  return m;
}

/**
 * Throws BAD_INPUT naming every problem: a shard with no ezone (or an ezone
 * that is not in the map), a region pointing nowhere, bad names or sizes.
 */
export function validateShardMap(m: ShardMapState): void {
  const problems: string[] = [];
  if (!Number.isInteger(m.version) || m.version < 1)
    problems.push(`version ${m.version} is not a positive integer`);
  if (!Array.isArray(m.ezones) || m.ezones.length === 0) problems.push('no ezone at all');
  const ezones = new Set(m.ezones ?? []);
  if (ezones.size !== (m.ezones ?? []).length) problems.push(`ezones listed twice: ${m.ezones.join(', ')}`);
  for (const e of ezones) if (!EZONE_RE.test(e)) problems.push(`ezone name "${e}" must match ${EZONE_RE}`);
  const n = m.shards?.length ?? 0;
  if (n < 1 || n > MAX_SHARDS) problems.push(`${n} shards; expected 1 to ${MAX_SHARDS}`);
  const orphans: number[] = [];
  for (let s = 0; s < n; s++) if (!ezones.has(m.shards[s] ?? '')) orphans.push(s);
  if (orphans.length) {
    const named = [...new Set(orphans.map((s) => m.shards[s]).filter(Boolean))];
    problems.push(
      `shard${orphans.length > 1 ? 's' : ''} ${formatShardList(orphans)} would have no ezone` +
        (named.length
          ? ` (${named.map((e) => `"${e}"`).join(', ')} is not an ezone of the map: ${m.ezones.join(', ')})`
          : ''),
    );
  }
  for (const [r, e] of Object.entries(m.regions ?? {})) {
    if (!REGION_RE.test(r)) problems.push(`region name "${r}" must match ${REGION_RE}`);
    if (!ezones.has(e)) problems.push(`region ${r} would have no ezone ("${e}" is not an ezone of the map)`);
  }
  if (problems.length)
    throw new TacoError('BAD_INPUT', `shard map refused: ${problems.join('; ')}`, { problems });
}

// ---------- changes ----------

/** The next version of `cur` with `change` applied; validated (throws BAD_INPUT when refused). */
export function applyShardMapChange(
  cur: ShardMapState,
  change: ShardMapChange,
  meta: ChangeMeta,
): ShardMapState {
  const base = { by: meta.by, at: meta.at, ...(meta.note ? { note: meta.note } : {}) };
  let next: ShardMapState;
  switch (change.kind) {
    case 'shards': {
      const n = cur.shards.length;
      if (change.shards.length === 0) throw new TacoError('BAD_INPUT', 'no shard given');
      const bad = change.shards.filter((s) => !Number.isInteger(s) || s < 0 || s >= n);
      if (bad.length)
        throw new TacoError(
          'BAD_INPUT',
          `shard ${bad.join(', ')} out of range: this map has shards 0-${n - 1}`,
        );
      const shards = [...cur.shards];
      for (const s of change.shards) shards[s] = change.to;
      const moved = [...new Set(change.shards)].sort((a, b) => a - b);
      next = {
        ...cur,
        version: cur.version + 1,
        shards,
        change: { kind: 'shards', shards: moved, to: change.to, ...base },
      };
      break;
    }
    case 'region': {
      if (!(change.region in cur.regions)) {
        throw new TacoError(
          'BAD_INPUT',
          `no region "${change.region}" in the shard map (regions: ${Object.keys(cur.regions).sort().join(', ') || 'none'})`,
        );
      }
      next = {
        ...cur,
        version: cur.version + 1,
        regions: { ...cur.regions, [change.region]: change.to },
        change: { kind: 'region', region: change.region, to: change.to, ...base },
      };
      break;
    }
    case 'rollback': {
      const t = change.target;
      next = {
        version: cur.version + 1,
        ezones: [...t.ezones],
        shards: [...t.shards],
        regions: { ...t.regions },
        change: { kind: 'rollback', restores: t.version, ...base },
      };
      break;
    }
  }
  validateShardMap(next);
  return next;
}

/** What moves between two maps. */
export function diffShardMaps(a: ShardMapState, b: ShardMapState): ShardMapPlan {
  const shards: ShardMove[] = [];
  const n = Math.max(a.shards.length, b.shards.length);
  for (let s = 0; s < n; s++) {
    const from = a.shards[s] ?? '';
    const to = b.shards[s] ?? '';
    if (from !== to) shards.push({ shard: s, from, to });
  }
  const regions: RegionMove[] = [];
  for (const r of [...new Set([...Object.keys(a.regions), ...Object.keys(b.regions)])].sort()) {
    if (a.regions[r] !== b.regions[r]) regions.push({ region: r, from: a.regions[r], to: b.regions[r] });
  }
  const ea = new Set(a.ezones);
  const eb = new Set(b.ezones);
  return {
    shards,
    regions,
    ezonesAdded: b.ezones.filter((e) => !ea.has(e)),
    ezonesRemoved: a.ezones.filter((e) => !eb.has(e)),
  };
}

export function isEmptyPlan(p: ShardMapPlan): boolean {
  return !p.shards.length && !p.regions.length && !p.ezonesAdded.length && !p.ezonesRemoved.length;
}

/**
 * The version a rollback restores: `toVersion` when given, else the one
 * before the current (undo the last change; a second rollback undoes the
 * first). `find` reads a version from the store's history.
 */
export async function rollbackTarget(
  cur: ShardMapState,
  find: (version: number) => Promise<ShardMapState | undefined>,
  toVersion?: number,
): Promise<ShardMapState> {
  const v = toVersion ?? cur.version - 1;
  if (!Number.isInteger(v) || v < 1 || v >= cur.version)
    throw new TacoError(
      'BAD_INPUT',
      cur.version === 1
        ? 'nothing to roll back: the shard map is at its first version'
        : `cannot roll back to version ${v}: expected 1 to ${cur.version - 1}`,
    );
  const t = await find(v);
  if (!t) throw new TacoError('NOT_FOUND', `shard map version ${v} is no longer in the history`);
  return t;
}

// ---------- lookups ----------

/** The ezone processing `shard`; undefined for a shard the map does not have. */
export function shardHome(m: ShardMapState, shard: number): string | undefined {
  return m.shards[shard];
}

/** Shards an ezone processes. */
export function shardsOf(m: ShardMapState, ezone: string): number[] {
  const out: number[] = [];
  for (let s = 0; s < m.shards.length; s++) if (m.shards[s] === ezone) out.push(s);
  return out;
}

/**
 * Where a session of `region` on a gateway of `ezone` must go, or undefined
 * when it may stay (its region is served here, or the map does not know it).
 * The 4503 close reason (`moved ezone=bj region=sh`) names the ezone.
 */
export function movedReason(m: ShardMapState, ezone: string, region: string | undefined): string | undefined {
  if (region === undefined) return undefined;
  const to = m.regions[region];
  return to === undefined || to === ezone ? undefined : `moved ezone=${to} region=${region}`;
}

/** Regions `ezone` served in `prev` and no longer serves in `next`: its gateways drain them. */
export function regionsLeaving(prev: ShardMapState, next: ShardMapState, ezone: string): string[] {
  return Object.keys(prev.regions)
    .filter((r) => prev.regions[r] === ezone && next.regions[r] !== ezone)
    .sort();
}

/**
 * Region of a client session: the part of its location key (`loc` claim)
 * before the first `/` (`sh/pudong-17` → `sh`), so the same key spreads a
 * region's devices over the shards. Sessions without `loc` have no region and
 * are never moved by a region change.
 */
export function regionOfLoc(loc: string | undefined): string | undefined {
  if (!loc) return undefined;
  const i = loc.indexOf('/');
  return i < 0 ? loc : loc.slice(0, i) || undefined;
}

// ---------- shard lists ----------

/** `"0-14"`, `"3"`, `"0-4,9,20-21"` → sorted unique shards in [0, count); BAD_INPUT otherwise. */
export function parseShardList(text: string, count: number, what = 'shards'): number[] {
  const out = new Set<number>();
  const items = text.split(',');
  for (const raw of items) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(raw);
    if (!m)
      throw new TacoError(
        'BAD_INPUT',
        `${what} "${text}": expected shards like 0-14 or 0-4,9 (got "${raw.trim()}")`,
      );
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new TacoError('BAD_INPUT', `${what} "${text}": range ${lo}-${hi} runs backwards`);
    if (hi >= count)
      throw new TacoError(
        'BAD_INPUT',
        `${what} "${text}": shard ${hi} out of range, the map has shards 0-${count - 1}`,
      );
    for (let s = lo; s <= hi; s++) out.add(s);
  }
  return [...out].sort((a, b) => a - b);
}

/** `[0,1,2,3,9]` → `"0-3,9"`. */
export function formatShardList(shards: readonly number[]): string {
  const s = [...new Set(shards)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** `{sh: "0-14", bj: "15-29"}`: the shards of each ezone, for status lines. */
export function shardsByEzone(m: ShardMapState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of m.ezones) out[e] = formatShardList(shardsOf(m, e));
  return out;
}

// ---------- a node's copy ----------

export type ShardMapListener = (next: ShardMapState, prev: ShardMapState) => void;

/** A node's current map. `offer` takes only newer versions, so notifications may arrive late, twice or out of order. */
export class ShardMapView {
  private cur: ShardMapState;
  private readonly listeners = new Set<ShardMapListener>();

  constructor(initial: ShardMapState) {
    validateShardMap(initial);
    this.cur = initial;
  }

  get current(): ShardMapState {
    return this.cur;
  }

  /** Takes `m` if it is newer than the current map; returns whether it did. Listeners run synchronously. */
  offer(m: ShardMapState): boolean {
    if (m.version <= this.cur.version) return false;
    try {
      validateShardMap(m);
    } catch {
      return false; // a store never holds an invalid map; ignore garbage rather than crash a node
    }
    const prev = this.cur;
    this.cur = m;
    for (const l of [...this.listeners]) l(m, prev);
    return true;
  }

  onChange(l: ShardMapListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

export interface FollowerOptions {
  /** Period of the reconcile read (the bound on how late a node learns a change when a notification is lost). */
  reconcileMs?: number;
  telemetry?: Telemetry;
  log?: (msg: string) => void;
}

/**
 * Keeps a ShardMapView current: the store's notifications, plus a read of the
 * store every `reconcileMs` (default 500 ms), so every node learns a change
 * within a second even when a notification is lost.
 */
export class ShardMapFollower {
  private timer: TimerHandle | undefined;
  private unwatch: (() => void) | undefined;
  private readonly reconcileMs: number;
  private reading = false;

  constructor(
    private readonly store: ShardMapStore,
    readonly view: ShardMapView,
    private readonly clock: Scheduler,
    private readonly o: FollowerOptions = {},
  ) {
    this.reconcileMs = o.reconcileMs ?? 500;
  }

  start(): void {
    if (this.timer) return;
    this.unwatch = this.store.watch((m) => this.take(m));
    this.timer = this.clock.setInterval(() => void this.reconcile(), this.reconcileMs);
  }

  /** Reads the store once (also what the periodic reconcile does). */
  async reconcile(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const m = await this.store.current();
      if (m) this.take(m);
    } catch (e) {
      this.o.telemetry?.count('shard_map.read_failed');
      this.o.log?.(`shard map: reconcile failed: ${(e as Error).message}`);
    } finally {
      this.reading = false;
    }
  }

  private take(m: ShardMapState): void {
    if (this.view.offer(m)) {
      this.o.telemetry?.count('shard_map.changed');
      this.o.log?.(`shard map: now version ${m.version} (${m.change.kind} by ${m.change.by})`);
    }
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
  }
}

/**
 * The store's current map, or — when the store has none — `initial()`
 * committed as version 1 (several nodes starting at once: one commit wins,
 * the others read it).
 */
export async function loadOrInitShardMap(
  store: ShardMapStore,
  initial: () => ShardMapState,
): Promise<ShardMapState> {
  const cur = await store.current();
  if (cur) return cur;
  const first = initial();
  try {
    await store.commit(first);
    return first;
  } catch (e) {
    const again = await store.current();
    if (again) return again;
    throw e;
  }
}

/**
 * Commits `change` on top of the store's current map (compare-and-set on the
 * version): returns the previous and the new map. A concurrent change makes
 * the commit fail with a conflict, never silently overwrite.
 */
export async function commitShardMapChange(
  store: ShardMapStore,
  change: ShardMapChange | ((cur: ShardMapState) => Promise<ShardMapChange> | ShardMapChange),
  meta: ChangeMeta,
  expectedVersion?: number,
): Promise<{ previous: ShardMapState; current: ShardMapState; plan: ShardMapPlan }> {
  const previous = await store.current();
  if (!previous) throw new TacoError('NOT_FOUND', 'no shard map yet: start a node first');
  if (expectedVersion !== undefined && previous.version !== expectedVersion)
    throw shardMapConflict(previous.version, expectedVersion);
  const c = typeof change === 'function' ? await change(previous) : change;
  const current = applyShardMapChange(previous, c, meta);
  await store.commit(current);
  return { previous, current, plan: diffShardMaps(previous, current) };
}

/** The error of a compare-and-set that lost: someone committed version `now` meanwhile. */
export function shardMapConflict(now: number, expected: number): TacoError {
  return new TacoError(
    'INVALID_ARGUMENT',
    `the shard map changed meanwhile (now version ${now}, expected ${expected}); look at it again and retry`,
    { conflict: true, version: now },
  );
}
