// withTransaction is cancellation-safe: whatever step the signal aborts at, the transaction rolls back,
// no transaction or lock is left on the server, and the pool gets every connection back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TacoError } from '../../src/core/errors.js';
import { eventually } from '../../src/engines/contract/index.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { type TxStep, withTransaction } from '../../src/engines/mysql/transaction.js';
import { runPrefix, service } from '../helpers/services.js';
import { dropTables } from './fixtures.js';

const mysql = await service('mysql');

type Where =
  | 'before-begin'
  | 'acquired'
  | 'begun'
  | 'statement-1'
  | 'statement-2'
  | 'in-statement'
  | 'committing';
const STEPS: Where[] = [
  'before-begin',
  'acquired',
  'begun',
  'statement-1',
  'statement-2',
  'in-statement',
  'committing',
];

describe('withTransaction under cancellation', { skip: mysql.skip, timeout: 60_000 }, () => {
  let db: MysqlDb;
  let table: string;
  let key = 0;
  const dbLog: string[] = [];

  before(async () => {
    db = await MysqlDb.connect(mysql.url!, {
      tablePrefix: runPrefix('tx'),
      connectionLimit: 4,
      statementTimeoutMs: 3_000,
      log: (m) => dbLog.push(m),
    });
    table = db.t('tx_probe');
    await db.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`);
  });
  after(async () => {
    await dropTables(db);
    await db.close();
  });

  async function openTransactions(threadIds: Iterable<number>): Promise<number[]> {
    const ids = [...threadIds];
    if (ids.length === 0) return [];
    const rows = await db.query<{ id: string }[]>(
      `SELECT trx_mysql_thread_id AS id FROM information_schema.innodb_trx WHERE trx_mysql_thread_id IN (${ids.map(() => '?').join(', ')})`,
      ids,
    );
    return rows.map((r) => Number(r.id));
  }

  async function assertClean(threadIds: Set<number>) {
    // KILL returns before the killed thread finished rolling back; give the server a moment.
    try {
      await eventually(
        async () => (await openTransactions(threadIds)).length === 0,
        3_000,
        'no open transaction left',
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; ${await whatIsLeft(threadIds)}`);
    }
    const st = db.poolStats();
    assert.equal(st.free, st.all, `every pooled connection is free (${JSON.stringify(st)})`);
    assert.equal(st.queued, 0);
  }

  /** What the server says of the threads still holding a transaction, and what the db logged. */
  async function whatIsLeft(threadIds: Set<number>): Promise<string> {
    const ids = [...threadIds];
    const marks = ids.map(() => '?').join(', ');
    const trx = await db.query(
      `SELECT trx_mysql_thread_id, trx_state, trx_started, trx_query FROM information_schema.innodb_trx WHERE trx_mysql_thread_id IN (${marks})`,
      ids,
    );
    const threads = await db.query(
      `SELECT id, command, time, state, info FROM information_schema.processlist WHERE id IN (${marks})`,
      ids,
    );
    return `transactions ${JSON.stringify(trx)}; threads ${JSON.stringify(threads)}; db log ${JSON.stringify(dbLog)}`;
  }

  async function rowExists(id: number): Promise<boolean> {
    return (await db.query<unknown[]>(`SELECT id FROM ${table} WHERE id = ?`, [id])).length === 1;
  }

  for (const where of STEPS) {
    test(`abort ${where}`, async () => {
      const id = ++key;
      const ctl = new AbortController();
      const threads = new Set<number>();
      let statements = 0;
      const probe = (step: TxStep, tid: number) => {
        threads.add(tid);
        if (step === 'statement') statements++;
        const hit =
          (where === 'acquired' && step === 'acquired') ||
          (where === 'begun' && step === 'begun') ||
          (where === 'statement-1' && step === 'statement' && statements === 1) ||
          (where === 'statement-2' && step === 'statement' && statements === 2) ||
          (where === 'committing' && step === 'committing');
        if (hit) ctl.abort();
      };
      if (where === 'before-begin') ctl.abort();
      const started = Date.now();
      const outcome = await withTransaction(
        db,
        ctl.signal,
        async (tx) => {
          await tx.query(`INSERT INTO ${table} (id, v) VALUES (?, 1)`, [id]);
          await tx.query(`UPDATE ${table} SET v = v + 1 WHERE id = ?`, [id]);
          if (where === 'in-statement') {
            setTimeout(() => ctl.abort(), 100);
            await tx.query('SELECT SLEEP(5)');
          }
          return 'done';
        },
        { probe },
      ).then(
        (v) => ({ ok: v as string }),
        (e: TacoError) => ({ err: e }),
      );
      if (where === 'committing') {
        // Once COMMIT is on the wire the abort no longer decides: it committed, and says so.
        assert.deepEqual(outcome, { ok: 'done' });
        assert.equal(await rowExists(id), true);
      } else {
        assert.ok('err' in outcome, 'rejects');
        assert.equal(outcome.err.code, 'CANCELLED', outcome.err.message);
        assert.equal(await rowExists(id), false, 'rolled back');
      }
      assert.ok(Date.now() - started < 2_000, 'an abort is honoured at once, not after the statement');
      await assertClean(threads);
    });
  }

  test('abort while blocked on another transaction’s lock frees our locks at once', async () => {
    const id = ++key;
    await db.query(`INSERT INTO ${table} (id, v) VALUES (?, 0)`, [id]);
    const holder = await db.acquire();
    await holder.query('START TRANSACTION');
    await holder.query(`SELECT v FROM ${table} WHERE id = ? FOR UPDATE`, [id]);
    const ctl = new AbortController();
    const threads = new Set<number>();
    const other = id + 1000;
    const p = withTransaction(
      db,
      ctl.signal,
      async (tx) => {
        await tx.query(`INSERT INTO ${table} (id, v) VALUES (?, 0)`, [other]); // a lock of ours
        await tx.query(`UPDATE ${table} SET v = 1 WHERE id = ?`, [id]); // waits for the holder
      },
      { probe: (_s, tid) => threads.add(tid) },
    );
    setTimeout(() => ctl.abort(), 150);
    await assert.rejects(p, (e: TacoError) => e.code === 'CANCELLED');
    // Our row lock on `other` is gone: a new transaction can take it without waiting.
    await withTransaction(db, new AbortController().signal, (tx) =>
      tx.query(`INSERT INTO ${table} (id, v) VALUES (?, 5)`, [other]),
    );
    await holder.query('ROLLBACK');
    holder.release();
    await assertClean(threads);
  });

  test('a statement past its deadline fails with DEADLINE_EXCEEDED and rolls back', async () => {
    const id = ++key;
    const threads = new Set<number>();
    await assert.rejects(
      withTransaction(
        db,
        new AbortController().signal,
        async (tx) => {
          await tx.query(`INSERT INTO ${table} (id, v) VALUES (?, 1)`, [id]);
          await tx.query('SELECT SLEEP(5)');
        },
        { statementTimeoutMs: 200, probe: (_s, tid) => threads.add(tid) },
      ),
      (e: TacoError) => e.code === 'DEADLINE_EXCEEDED',
    );
    assert.equal(await rowExists(id), false);
    await assertClean(threads);
  });

  test('abort while waiting for a pooled connection: the late connection goes back', async () => {
    const held = await Promise.all([1, 2, 3, 4].map(() => db.acquire()));
    const ctl = new AbortController();
    const p = withTransaction(db, ctl.signal, async () => 'never');
    setTimeout(() => ctl.abort(), 50);
    await assert.rejects(p, (e: TacoError) => e.code === 'CANCELLED');
    for (const c of held) c.release();
    await eventually(() => db.poolStats().free === db.poolStats().all, 2_000, 'pool all free');
    assert.equal(db.poolStats().queued, 0);
  });

  test('a failing statement rolls back and returns the connection for reuse', async () => {
    const id = ++key;
    const before = db.poolStats().all;
    await assert.rejects(
      withTransaction(db, new AbortController().signal, async (tx) => {
        await tx.query(`INSERT INTO ${table} (id, v) VALUES (?, 1)`, [id]);
        await tx.query(`INSERT INTO ${table} (id, v) VALUES (?, 1)`, [id]); // duplicate key
      }),
      (e: TacoError) => e.code === 'INTERNAL' && /ER_DUP_ENTRY/.test(e.message),
    );
    assert.equal(await rowExists(id), false);
    assert.equal(db.poolStats().all, before, 'rolled back and reused, not killed');
  });
});
