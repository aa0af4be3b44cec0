/**
 * The shard map ("GZS") on MySQL/MariaDB: one row per version in
 * `shard_map_versions` (the whole map as JSON, with who/when), so the history
 * is the table. `commit` is a compare-and-set: it reads the latest version
 * and inserts the next one; two racing commits insert the same primary key
 * and the second fails (ER_DUP_ENTRY → conflict), so no change is ever lost
 * or applied to a stale base.
 *
 * Change notification: watchers poll the latest version (one indexed
 * `SELECT MAX(version)`) every `pollMs` (default 250 ms) and fetch the map
 * when it grew; followers also reconcile on their own, so every node learns a
 * change within a second. All ezones point their shard map store at the same
 * database (it is global, unlike each ezone's routes and messages).
 *
 * The table is created by `ensureTable()` (idempotent); it should become a
 * numbered migration of src/engines/mysql/schema.ts.
 */
import { TacoError } from '../../core/errors.js';
import type { ShardMapStore } from '../../core/ports.js';
import { type ShardMapState, shardMapConflict, validateShardMap } from '../../core/shard-map.js';
import { deadlineSignal } from '../deadline.js';
import type { MysqlDb } from './db.js';

export interface MysqlShardMapStoreOptions {
  /** Deadline of one call. Default 5 s. */
  opTimeoutMs?: number;
  /** Watchers' polling period. Default 250 ms. */
  pollMs?: number;
  log?: (msg: string) => void;
}

type Listener = (m: ShardMapState) => void;

interface Row {
  version: number | string;
  state: string;
}

export class MysqlShardMapStore implements ShardMapStore {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private lastSeen = 0;
  private polling = false;
  private readonly opTimeoutMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly db: MysqlDb,
    private readonly opts: MysqlShardMapStoreOptions = {},
  ) {
    this.opTimeoutMs = opts.opTimeoutMs ?? 5_000;
    this.pollMs = opts.pollMs ?? 250;
  }

  /** Creates the table if it is missing (idempotent). */
  async ensureTable(): Promise<void> {
    await this.q(
      'create table',
      `CREATE TABLE IF NOT EXISTS ${this.db.t('shard_map_versions')} (
        version INT UNSIGNED NOT NULL PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        changed_by VARCHAR(255) NOT NULL,
        changed_at BIGINT NOT NULL,
        state MEDIUMTEXT NOT NULL
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      [],
    );
  }

  private async q<T>(what: string, sql: string, values: unknown[]): Promise<T> {
    const d = deadlineSignal(this.opTimeoutMs, `shard map (MySQL): ${what}`);
    try {
      return await this.db.query<T>(sql, values, { signal: d.signal });
    } finally {
      d.dispose();
    }
  }

  private parse(r: Row): ShardMapState {
    try {
      return JSON.parse(r.state) as ShardMapState;
    } catch {
      throw new TacoError('INTERNAL', `shard map version ${r.version}: stored state is not JSON`);
    }
  }

  private async latestVersion(): Promise<number> {
    const rows = await this.q<{ v: number | string | null }[]>(
      'latest version',
      `SELECT MAX(version) AS v FROM ${this.db.t('shard_map_versions')}`,
      [],
    );
    return Number(rows[0]?.v ?? 0);
  }

  async current(): Promise<ShardMapState | undefined> {
    const rows = await this.q<Row[]>(
      'current',
      `SELECT version, state FROM ${this.db.t('shard_map_versions')} ORDER BY version DESC LIMIT 1`,
      [],
    );
    return rows[0] ? this.parse(rows[0]) : undefined;
  }

  async get(version: number): Promise<ShardMapState | undefined> {
    const rows = await this.q<Row[]>(
      'get',
      `SELECT version, state FROM ${this.db.t('shard_map_versions')} WHERE version = ?`,
      [version],
    );
    return rows[0] ? this.parse(rows[0]) : undefined;
  }

  async history(limit: number): Promise<ShardMapState[]> {
    const rows = await this.q<Row[]>(
      'history',
      `SELECT version, state FROM ${this.db.t('shard_map_versions')} ORDER BY version DESC LIMIT ?`,
      [Math.max(0, Math.floor(limit))],
    );
    return rows.map((r) => this.parse(r));
  }

  async commit(next: ShardMapState): Promise<void> {
    validateShardMap(next);
    const have = await this.latestVersion();
    if (next.version !== have + 1) throw shardMapConflict(have, next.version - 1);
    try {
      await this.q(
        'commit',
        `INSERT INTO ${this.db.t('shard_map_versions')} (version, kind, changed_by, changed_at, state) VALUES (?, ?, ?, ?, ?)`,
        [next.version, next.change.kind, next.change.by.slice(0, 255), next.change.at, JSON.stringify(next)],
      );
    } catch (e) {
      if ((e as TacoError).details?.mysqlCode === 'ER_DUP_ENTRY') throw shardMapConflict(next.version, have);
      throw e;
    }
    this.notify(next);
  }

  private notify(m: ShardMapState): void {
    if (m.version <= this.lastSeen) return;
    this.lastSeen = m.version;
    for (const l of [...this.listeners]) l(m);
  }

  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if ((await this.latestVersion()) > this.lastSeen) {
        const m = await this.current();
        if (m) this.notify(m);
      }
    } catch (e) {
      this.opts.log?.(`shard map (MySQL): poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  /** Stops polling (the caller owns the MysqlDb). */
  close(): void {
    this.listeners.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
