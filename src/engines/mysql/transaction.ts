/**
 * Cancellation-safe transactions. `withTransaction(db, signal, fn)` takes a
 * connection, BEGINs, runs `fn`, COMMITs, and gives the connection back —
 * and whatever step the signal aborts at, it rolls back and returns the
 * connection before it rejects:
 *
 * - aborted before or while taking a connection: nothing started; a connection
 *   that arrives late goes straight back to the pool;
 * - aborted between statements: ROLLBACK, connection back to the pool;
 * - aborted while a statement runs (or a statement passes its deadline): the
 *   connection is killed server-side (the transaction rolls back and its locks
 *   go at once) and dropped from the pool;
 * - aborted once COMMIT is on the wire: the abort no longer decides. The
 *   outcome is the COMMIT's: resolves with `fn`'s result if it committed,
 *   rejects if the server refused it. If COMMIT gets no answer (deadline, or
 *   the connection dropped) the connection is killed and it rejects with
 *   DEADLINE_EXCEEDED or ENGINE_UNAVAILABLE, details `{ outcome: 'unknown' }` —
 *   the one case no client can decide, whatever it does.
 *
 * Rejections are TacoErrors: the signal's reason (CANCELLED or the
 * DEADLINE_EXCEEDED of a deadline signal), else the failure's.
 */
import type { PoolConnection } from 'mysql2/promise';
import { TacoError } from '../../core/errors.js';
import { abortReason, throwIfAborted, withDeadline } from '../deadline.js';
import { type MysqlDb, mysqlError } from './db.js';

export interface Tx {
  /** Runs a statement inside the transaction; rejects once the signal aborted. */
  query<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  readonly signal: AbortSignal;
  /** Server thread id of the connection (for diagnostics and tests). */
  readonly threadId: number;
}

export type TxStep = 'acquired' | 'begun' | 'statement' | 'committing' | 'committed';

export interface TxOptions {
  /** Deadline of each statement, COMMIT included; defaults to the db's. */
  statementTimeoutMs?: number;
  /** Test seam: called after each step (`committing` right after COMMIT was sent). */
  probe?: (step: TxStep, threadId: number) => void;
}

export async function withTransaction<T>(
  db: MysqlDb,
  signal: AbortSignal,
  fn: (tx: Tx) => Promise<T>,
  opts: TxOptions = {},
): Promise<T> {
  const what = 'MySQL transaction';
  throwIfAborted(signal, what);
  const conn = await db.acquire(signal);
  const timeoutMs = opts.statementTimeoutMs;
  const probe = (step: TxStep) => opts.probe?.(step, conn.threadId);
  let ended = false;
  const tx: Tx = {
    signal,
    threadId: conn.threadId,
    async query<R>(sql: string, values?: unknown[]): Promise<R> {
      if (ended) throw new TacoError('CANCELLED', `${what}: statement after the transaction ended`);
      const r = await db.run<R>(conn, sql, values, { signal, timeoutMs });
      probe('statement');
      return r;
    },
  };
  let result: T;
  try {
    probe('acquired');
    throwIfAborted(signal, what);
    await db.run(conn, 'START TRANSACTION', [], { signal, timeoutMs });
    probe('begun');
    // `fn` may be awaiting something other than a statement when the signal aborts: don't wait for it.
    result = await withDeadline(fn(tx), Number.POSITIVE_INFINITY, what, signal);
    throwIfAborted(signal, what);
  } catch (e) {
    ended = true;
    await db.discard(conn);
    throw signal.aborted ? abortReason(signal, what) : mysqlError(e, what);
  }
  ended = true;
  return commit(db, conn, result, timeoutMs, probe);
}

async function commit<T>(
  db: MysqlDb,
  conn: PoolConnection,
  result: T,
  timeoutMs: number | undefined,
  probe: (step: TxStep) => void,
): Promise<T> {
  // No signal from here on: COMMIT is on the wire and its answer is the outcome.
  const sent = db.run(conn, 'COMMIT', [], { timeoutMs });
  probe('committing');
  try {
    await sent;
  } catch (e) {
    const te = mysqlError(e, 'MySQL COMMIT');
    const answered = /^ER_/.test(String(te.details?.mysqlCode ?? ''));
    await db.discard(conn);
    if (answered) throw te; // the server said no: rolled back
    throw new TacoError(
      te.code === 'DEADLINE_EXCEEDED' ? 'DEADLINE_EXCEEDED' : 'ENGINE_UNAVAILABLE',
      `MySQL COMMIT: ${te.message}; the connection is gone and the outcome is unknown`,
      { outcome: 'unknown' },
      { cause: te },
    );
  }
  conn.release();
  probe('committed');
  return result;
}
