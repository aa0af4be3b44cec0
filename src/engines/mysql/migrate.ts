/**
 * Applies the schema migrations (schema.ts) that a database lacks, recording
 * each in `schema_migrations`. Safe to run from several nodes at once: a
 * named lock (GET_LOCK) lets one apply while the others wait, then find
 * nothing left to do. Idempotent: running it again changes nothing.
 */
import type { PoolConnection } from 'mysql2/promise';
import { TacoError } from '../../core/errors.js';
import type { MysqlDb } from './db.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './schema.js';

export interface MigrateOptions {
  /** How long to wait for another node's migration to finish. */
  lockTimeoutSec?: number;
  /** Deadline of each DDL statement. */
  statementTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface MigrateResult {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

function ensureTable(db: MysqlDb, conn: PoolConnection, timeoutMs: number) {
  return db.run(
    conn,
    `CREATE TABLE IF NOT EXISTS ${db.t('schema_migrations')} (
      version INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(255) NOT NULL,
      applied_at BIGINT NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    [],
    { timeoutMs },
  );
}

async function appliedVersions(db: MysqlDb, conn: PoolConnection, timeoutMs: number): Promise<Set<number>> {
  const rows = await db.run<{ version: number }[]>(
    conn,
    `SELECT version FROM ${db.t('schema_migrations')}`,
    [],
    { timeoutMs },
  );
  return new Set(rows.map((r) => Number(r.version)));
}

export async function migrate(db: MysqlDb, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const lockSec = opts.lockTimeoutSec ?? 30;
  const timeoutMs = opts.statementTimeoutMs ?? 60_000;
  const log = opts.log ?? (() => {});
  const conn = await db.acquire();
  const lockName = `LEFT(CONCAT('taco_migrate.', DATABASE(), '.', ?), 64)`;
  try {
    const [row] = await db.run<{ got: number | null }[]>(
      conn,
      `SELECT GET_LOCK(${lockName}, ?) AS got`,
      [db.tablePrefix, lockSec],
      { timeoutMs: lockSec * 1000 + 5_000 },
    );
    if (Number(row?.got) !== 1)
      throw new TacoError(
        'ENGINE_UNAVAILABLE',
        `schema migration: another node held the lock for over ${lockSec} s`,
      );
    await ensureTable(db, conn, timeoutMs);
    const done = await appliedVersions(db, conn, timeoutMs);
    const from = Math.max(0, ...done);
    const applied: MigrateResult['applied'] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      log(`applying migration ${m.version}: ${m.name}`);
      for (const sql of m.statements((n) => db.t(n))) await db.run(conn, sql, [], { timeoutMs });
      await db.run(
        conn,
        `INSERT INTO ${db.t('schema_migrations')} (version, name, applied_at) VALUES (?, ?, ?)
           ON DUPLICATE KEY UPDATE version = version`,
        [m.version, m.name, Date.now()],
        { timeoutMs },
      );
      applied.push({ version: m.version, name: m.name });
    }
    return { from, to: Math.max(from, ...applied.map((a) => a.version)), applied };
  } finally {
    // A killed connection took its lock with it; otherwise release it (a no-op if never taken).
    if (!db.isDead(conn)) {
      await db.run(conn, `SELECT RELEASE_LOCK(${lockName})`, [db.tablePrefix]).catch(() => {});
      conn.release();
    }
  }
}

/** The schema version a database is at (0 when never migrated). */
export async function schemaVersion(db: MysqlDb): Promise<number> {
  try {
    const rows = await db.query<{ v: string | null }[]>(
      `SELECT MAX(version) AS v FROM ${db.t('schema_migrations')}`,
    );
    return Number(rows[0]?.v ?? 0);
  } catch (e) {
    if ((e as TacoError).details?.mysqlCode === 'ER_NO_SUCH_TABLE') return 0;
    throw e;
  }
}

/** Fails with ENGINE_UNAVAILABLE telling the operator to run `taco db migrate` when the schema is behind. */
export async function assertSchemaCurrent(db: MysqlDb): Promise<void> {
  const v = await schemaVersion(db);
  if (v < LATEST_SCHEMA_VERSION)
    throw new TacoError(
      'ENGINE_UNAVAILABLE',
      `MySQL schema is at version ${v}, this build needs ${LATEST_SCHEMA_VERSION}: run \`taco db migrate\``,
      { engine: 'mysql', schemaVersion: v, needed: LATEST_SCHEMA_VERSION },
    );
}
