// Messages and routes on MariaDB/MySQL, held to the engine contracts; schema migrations; the status rank.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { TacoError } from '../../src/core/errors.js';
import { canTransition, MESSAGE_STATUSES } from '../../src/core/status.js';
import { messageStoreContract, newMessageId, routeStoreContract } from '../../src/engines/contract/index.js';
import { MysqlDb, resolveTablePrefix, splitMysqlUrl } from '../../src/engines/mysql/db.js';
import { MysqlMessageStore } from '../../src/engines/mysql/message-store.js';
import { assertSchemaCurrent, migrate, schemaVersion } from '../../src/engines/mysql/migrate.js';
import { MysqlRouteStore } from '../../src/engines/mysql/route-store.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/engines/mysql/schema.js';
import { STATUS_RANK } from '../../src/engines/mysql/status-rank.js';
import { runPrefix, service } from '../helpers/services.js';
import { dropTables, freshDb } from './fixtures.js';

const mysql = await service('mysql');

messageStoreContract(
  'mysql',
  async () => {
    const f = await freshDb(mysql.url!, 'ms');
    return { subject: new MysqlMessageStore(f.db), cleanup: f.drop };
  },
  { skip: mysql.skip },
);

routeStoreContract(
  'mysql',
  async () => {
    const f = await freshDb(mysql.url!, 'mr');
    return { subject: new MysqlRouteStore(f.db), cleanup: f.drop };
  },
  { skip: mysql.skip },
);

test('released migrations never change what they create (the DDL text, whitespace aside, is pinned)', () => {
  // A change to the schema is a new migration. If you only reformatted schema.ts, these stay the same.
  const pinned: Record<number, string> = {
    1: 'eca23e59a4443334',
    2: '479bbfecb812453d',
    3: '969c86dd76d84183',
  };
  for (const m of MIGRATIONS) {
    const ddl = m.statements((n) => `\`${n}\``).map((x) => x.replace(/\s+/g, ' ').trim());
    const digest = createHash('sha256').update(ddl.join(';\n')).digest('hex').slice(0, 16);
    assert.equal(digest, pinned[m.version], `migration ${m.version} (${m.name}) changed`);
  }
});

test('the SQL status rank agrees with canTransition on every pair', () => {
  for (const a of MESSAGE_STATUSES)
    for (const b of MESSAGE_STATUSES)
      assert.equal(STATUS_RANK[a] < STATUS_RANK[b], canTransition(a, b), `${a} → ${b}`);
});

describe('schema migrations', { skip: mysql.skip }, () => {
  let db: MysqlDb;
  before(async () => {
    db = await MysqlDb.connect(mysql.url!, { tablePrefix: runPrefix('mg') });
  });
  after(async () => {
    await dropTables(db);
    await db.close();
  });

  test('a fresh database is at version 0 and a store refuses to start on it', async () => {
    assert.equal(await schemaVersion(db), 0);
    await assert.rejects(
      assertSchemaCurrent(db),
      (e: TacoError) => e.code === 'ENGINE_UNAVAILABLE' && /taco db migrate/.test(e.message),
    );
  });

  test('migrate applies every version once, recorded in schema_migrations', async () => {
    const first = await migrate(db);
    assert.equal(first.from, 0);
    assert.equal(first.to, LATEST_SCHEMA_VERSION);
    assert.deepEqual(
      first.applied.map((a) => a.version),
      Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1),
    );
    await assertSchemaCurrent(db);
  });

  test('migrate is idempotent, also when several nodes run it at once', async () => {
    const runs = await Promise.all([migrate(db), migrate(db), migrate(db)]);
    for (const r of runs) assert.deepEqual(r.applied, []);
    const rows = await db.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${db.t('schema_migrations')}`);
    assert.equal(Number(rows[0]!.n), LATEST_SCHEMA_VERSION);
  });

  test('a non-numeric message id is refused on create and unknown elsewhere', async () => {
    const store = new MysqlMessageStore(db);
    assert.equal(await store.get('12abc'), undefined);
    assert.equal(await store.transition('12abc', 'queued', 1), false);
    await assert.rejects(
      store.create({
        id: 'abc',
        app: 'a',
        device: 'd',
        kind: 'notification',
        priority: 'normal',
        createdAt: 1,
        expiresAt: 2,
        status: 'accepted',
        channel: null,
        history: [],
      }),
      (e: TacoError) => e.code === 'INVALID_ARGUMENT',
    );
    assert.equal(await store.get(newMessageId()), undefined);
  });

  test('expireDue purges messages done for longer than the retention', async () => {
    const store = new MysqlMessageStore(db, { retentionMs: 1_000 });
    const id = newMessageId();
    const base = 4_000_000_000_000 + Math.floor(Math.random() * 1e9);
    await store.create({
      id,
      app: 'purge',
      device: 'd',
      kind: 'notification',
      priority: 'low',
      createdAt: base,
      expiresAt: base + 10,
      status: 'accepted',
      channel: null,
      history: [{ status: 'accepted', at: base }],
    });
    assert.ok((await store.expireDue(base + 20, 10_000)).includes(id));
    assert.equal((await store.get(id))?.status, 'expired');
    await store.expireDue(base + 20 + 1_000, 10_000);
    assert.equal(await store.get(id), undefined);
    const hist = await db.query<unknown[]>(`SELECT * FROM ${db.t('message_history')} WHERE message_id = ?`, [
      id,
    ]);
    assert.equal(hist.length, 0);
  });
});

describe('table prefix in the URL', () => {
  test('?tablePrefix= is split off before the driver sees the URL; other parameters stay', () => {
    assert.deepEqual(splitMysqlUrl('mysql://u:p@h:3306/db?tablePrefix=taco_&connectionLimit=20'), {
      url: 'mysql://u:p@h:3306/db?connectionLimit=20',
      tablePrefix: 'taco_',
    });
    assert.deepEqual(splitMysqlUrl('mysql://h/db'), { url: 'mysql://h/db', tablePrefix: undefined });
  });

  test('given twice it must agree; a bad prefix is BAD_INPUT without the password', () => {
    assert.equal(resolveTablePrefix('mysql://h/db?tablePrefix=a_', 'a_'), 'a_');
    assert.equal(resolveTablePrefix('mysql://h/db', undefined), '');
    assert.throws(
      () => resolveTablePrefix('mysql://u:hunter2@h/db?tablePrefix=a_', 'b_'),
      (e: TacoError) => e.code === 'BAD_INPUT' && /disagrees/.test(e.message) && !/hunter2/.test(e.message),
    );
    assert.throws(
      () => resolveTablePrefix('mysql://h/db?tablePrefix=no-dashes', undefined),
      (e: TacoError) => e.code === 'BAD_INPUT',
    );
  });
});
