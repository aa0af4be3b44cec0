/**
 * MySQL/MariaDB access with a deadline on everything: taking a connection from
 * the pool, and every statement. mysql2's own query timeout leaves the
 * statement running on the server and the connection mid-protocol, so a
 * statement that loses its race (deadline or abort) is stopped here instead:
 * the connection is killed server-side (`KILL CONNECTION`, which also rolls
 * back its transaction and frees its locks at once) from a small admin pool,
 * and destroyed client-side, which removes it from the pool.
 */
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import { TacoError } from '../../core/errors.js';
import { maskUrl, throwIfAborted, withDeadline } from '../deadline.js';

export interface MysqlDbOptions {
  /**
   * Prefix of every table name (tests use a unique one per run). The URL may
   * carry it too (`?tablePrefix=taco_`); given both ways, they must agree.
   */
  tablePrefix?: string | undefined;
  connectionLimit?: number;
  connectTimeoutMs?: number;
  /** Default deadline of one statement. */
  statementTimeoutMs?: number;
  /** Deadline for taking a connection from the pool. */
  acquireTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

const TABLE_PREFIX_RE = /^[A-Za-z0-9_]{0,32}$/;

/** The URL parameter naming the table prefix (taken out before the URL reaches the driver). */
export const TABLE_PREFIX_PARAM = 'tablePrefix';

/**
 * Splits Taco's own setting (`?tablePrefix=`) off a MySQL URL; the driver gets
 * the rest (its pool options may stay in the query string). A URL that does
 * not parse is returned as is, for the driver to refuse.
 */
export function splitMysqlUrl(url: string): { url: string; tablePrefix: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, tablePrefix: undefined };
  }
  if (!u.searchParams.has(TABLE_PREFIX_PARAM)) return { url, tablePrefix: undefined };
  const tablePrefix = u.searchParams.get(TABLE_PREFIX_PARAM) ?? '';
  u.searchParams.delete(TABLE_PREFIX_PARAM);
  return { url: u.toString(), tablePrefix };
}

/** The table prefix from the options and/or the URL: BAD_INPUT if they disagree or it is not `[A-Za-z0-9_]{0,32}`. */
export function resolveTablePrefix(url: string, explicit: string | undefined): string {
  const fromUrl = splitMysqlUrl(url).tablePrefix;
  if (explicit !== undefined && fromUrl !== undefined && explicit !== fromUrl)
    throw new TacoError(
      'BAD_INPUT',
      `table prefix "${explicit}" disagrees with ?${TABLE_PREFIX_PARAM}=${fromUrl} in ${maskUrl(url)}: give it one way`,
    );
  const prefix = explicit ?? fromUrl ?? '';
  if (!TABLE_PREFIX_RE.test(prefix))
    throw new TacoError('BAD_INPUT', `table prefix "${prefix}" must match ${TABLE_PREFIX_RE}`);
  return prefix;
}

/** Maps a driver error to a TacoError: SQL errors are INTERNAL, the rest (network, locks) ENGINE_UNAVAILABLE. */
export function mysqlError(e: unknown, what: string): TacoError {
  if (e instanceof TacoError) return e;
  const err = e as { code?: string; message?: string };
  const code = err?.code ?? '';
  const retryable = !code.startsWith('ER_') || /LOCK_DEADLOCK|LOCK_WAIT_TIMEOUT|QUERY_INTERRUPTED/.test(code);
  return new TacoError(
    retryable ? 'ENGINE_UNAVAILABLE' : 'INTERNAL',
    `${what}: MySQL ${code ? `${code}: ` : ''}${err?.message ?? String(e)}`,
    { engine: 'mysql', mysqlCode: code || undefined },
    { cause: e },
  );
}

/** The innermost cause's message (the driver's own words, without our wrapping). */
function rootMessage(e: unknown): string {
  let cur = e as { cause?: unknown; message?: string };
  while (cur?.cause) cur = cur.cause as typeof cur;
  return cur?.message ?? String(e);
}

interface PoolInternals {
  _allConnections: { length: number };
  _freeConnections: { length: number };
  _connectionQueue: { length: number };
}

export class MysqlDb {
  readonly pool: Pool;
  readonly tablePrefix: string;
  readonly statementTimeoutMs: number;
  private readonly admin: Pool;
  private readonly acquireTimeoutMs: number;
  private readonly log: (msg: string) => void;
  private readonly inflight = new WeakMap<PoolConnection, number>();
  private readonly killing = new WeakMap<PoolConnection, Promise<void>>();
  private readonly guarded = new WeakSet<object>();

  private constructor(
    readonly url: string,
    opts: MysqlDbOptions,
  ) {
    this.tablePrefix = resolveTablePrefix(url, opts.tablePrefix);
    this.statementTimeoutMs = opts.statementTimeoutMs ?? 5_000;
    this.acquireTimeoutMs = opts.acquireTimeoutMs ?? 5_000;
    this.log = opts.log ?? (() => {});
    const common = {
      uri: splitMysqlUrl(url).url,
      connectTimeout: opts.connectTimeoutMs ?? 5_000,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      charset: 'utf8mb4_bin',
      waitForConnections: true,
      // affectedRows counts changed rows, not matched ones: an ignored upsert reports 0.
      flags: ['-FOUND_ROWS'],
    };
    this.pool = mysql.createPool({ ...common, connectionLimit: opts.connectionLimit ?? 10, maxIdle: 10 });
    this.admin = mysql.createPool({ ...common, connectionLimit: 2, maxIdle: 1 });
  }

  /** Opens the pools and checks the server answers, or fails with ENGINE_UNAVAILABLE naming the URL. */
  static async connect(url: string, opts: MysqlDbOptions = {}): Promise<MysqlDb> {
    const db = new MysqlDb(url, opts);
    try {
      await db.query('SELECT 1', [], { timeoutMs: opts.connectTimeoutMs ?? 5_000 });
      return db;
    } catch (e) {
      await db.close();
      throw new TacoError(
        'ENGINE_UNAVAILABLE',
        `cannot reach MySQL at ${maskUrl(url)}: ${rootMessage(e)}`,
        { engine: 'mysql', url: maskUrl(url) },
        { cause: e },
      );
    }
  }

  /** A table name with the prefix, back-quoted. */
  t(name: string): string {
    return `\`${this.tablePrefix}${name}\``;
  }

  /** Takes a connection within the deadline; one that arrives after the caller gave up goes straight back. */
  async acquire(signal?: AbortSignal, timeoutMs = this.acquireTimeoutMs): Promise<PoolConnection> {
    const p = this.pool.getConnection();
    try {
      const conn = await withDeadline(p, timeoutMs, 'taking a MySQL connection', signal, () => {
        p.then(
          (c) => c.release(),
          () => {},
        );
      });
      this.guard(conn);
      return conn;
    } catch (e) {
      throw mysqlError(e, 'taking a MySQL connection');
    }
  }

  /** Keeps a late 'error' event of a pooled connection from crashing the process. */
  private guard(conn: PoolConnection): void {
    const core = conn.connection as unknown as { on(ev: string, fn: (e: Error) => void): void };
    if (this.guarded.has(core)) return;
    this.guarded.add(core);
    core.on('error', (e) => this.log(`mysql connection error: ${e.message}`));
  }

  isDead(conn: PoolConnection): boolean {
    return this.killing.has(conn);
  }

  inFlight(conn: PoolConnection): number {
    return this.inflight.get(conn) ?? 0;
  }

  /**
   * Runs one statement on `conn` within the deadline. If the deadline or the
   * signal wins, the connection is killed (the statement stops, its
   * transaction rolls back) before this rejects.
   */
  async run<T = unknown>(conn: PoolConnection, sql: string, values: unknown[] = [], opts: RunOptions = {}) {
    const what = `MySQL: ${sql.slice(0, 60)}`;
    if (this.isDead(conn)) throw new TacoError('ENGINE_UNAVAILABLE', `${what}: the connection was discarded`);
    throwIfAborted(opts.signal, what);
    this.inflight.set(conn, this.inFlight(conn) + 1);
    const p = conn.query(sql, values).finally(() => this.inflight.set(conn, this.inFlight(conn) - 1));
    let lost = false;
    try {
      const [rows] = await withDeadline(
        p,
        opts.timeoutMs ?? this.statementTimeoutMs,
        what,
        opts.signal,
        () => {
          lost = true;
        },
      );
      return rows as T;
    } catch (e) {
      if (lost) await this.kill(conn);
      throw mysqlError(e, what);
    }
  }

  /** One statement on a pooled connection (autocommit). */
  async query<T = unknown>(sql: string, values: unknown[] = [], opts: RunOptions = {}): Promise<T> {
    const conn = await this.acquire(opts.signal);
    try {
      return await this.run<T>(conn, sql, values, opts);
    } finally {
      if (!this.isDead(conn)) conn.release();
    }
  }

  /**
   * Ends a connection's use after a failure: ROLLBACK and back to the pool
   * when it is idle, else (a statement still running, or ROLLBACK failing)
   * kill it. Always resolves; afterwards the connection is back or gone.
   */
  async discard(conn: PoolConnection): Promise<void> {
    if (this.isDead(conn)) return this.killing.get(conn);
    if (this.inFlight(conn) > 0) return this.kill(conn);
    try {
      await this.run(conn, 'ROLLBACK');
      conn.release();
    } catch {
      await this.kill(conn);
    }
  }

  /** Kills the connection server-side (bounded), then destroys it client-side. Idempotent. */
  kill(conn: PoolConnection): Promise<void> {
    const existing = this.killing.get(conn);
    if (existing) return existing;
    const id = conn.threadId;
    const p = this.killOnServer(id).finally(() => conn.destroy());
    this.killing.set(conn, p);
    return p;
  }

  /**
   * `KILL CONNECTION id` from the admin pool, tried twice: the first try can
   * land on an admin connection the server dropped while it sat idle (a
   * restart, wait_timeout), and a thread left unkilled keeps its transaction
   * and locks until its statement ends on its own. Always resolves.
   */
  private async killOnServer(id: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await withDeadline(
          this.admin.query('KILL CONNECTION ?', [id]),
          this.statementTimeoutMs,
          `KILL ${id}`,
        );
        return;
      } catch (e) {
        const err = e as Error & { code?: string };
        // ER_NO_SUCH_THREAD: it is gone already, which is what we wanted.
        if (/NO_SUCH_THREAD|Unknown thread/i.test(`${err.code} ${err.message}`)) return;
        this.log(`mysql: could not kill connection ${id} (try ${attempt} of 2): ${err.message}`);
        if (attempt === 2) return;
      }
    }
  }

  /** Pool occupancy (for tests and /metrics): every connection is either free or in use. */
  poolStats(): { all: number; free: number; queued: number } {
    const p = (this.pool as unknown as { pool: PoolInternals }).pool;
    return {
      all: p._allConnections.length,
      free: p._freeConnections.length,
      queued: p._connectionQueue.length,
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pool.end(), this.admin.end()]);
  }
}
