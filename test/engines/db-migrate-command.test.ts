// `taco db migrate`, in process: applies the schema, is idempotent, and fails cleanly without a server.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import DbMigrate from '../../src/commands/db/migrate.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { schemaVersion } from '../../src/engines/mysql/migrate.js';
import { LATEST_SCHEMA_VERSION } from '../../src/engines/mysql/schema.js';
import { runPrefix, service } from '../helpers/services.js';
import { dropTables } from './fixtures.js';

const mysql = await service('mysql');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the command in process, capturing what it prints (through its own log methods, not process.stdout). */
async function run(argv: string[]): Promise<{ out: string; err: string; exit: number }> {
  const io = { out: '', err: '' };
  class Captured extends DbMigrate {
    override log(message = ''): void {
      io.out += `${message}\n`;
    }
    override logToStderr(message = ''): void {
      io.err += `${message}\n`;
    }
  }
  try {
    await Captured.run(argv, ROOT);
    return { ...io, exit: 0 };
  } catch (e) {
    return { ...io, exit: (e as { oclif?: { exit?: number } }).oclif?.exit ?? -1 };
  }
}

async function tablesOf(db: MysqlDb, prefix: string): Promise<string[]> {
  const rows = await db.query<{ name: string }[]>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = DATABASE() AND table_name LIKE CONCAT(?, '%')`,
    [prefix.replace(/_/g, '\\_')],
  );
  return rows.map((r) => r.name).sort();
}

describe('taco db migrate', { skip: mysql.skip }, () => {
  const prefix = runPrefix('cmd');
  after(async () => {
    const db = await MysqlDb.connect(mysql.url!, { tablePrefix: prefix });
    await dropTables(db);
    await db.close();
  });

  test('applies every migration, then has nothing to do', async () => {
    const first = await run(['--mysql-url', mysql.url!, '--table-prefix', prefix, '--json']);
    assert.equal(first.exit, 0, first.err);
    const r = JSON.parse(first.out) as { from: number; to: number; applied: unknown[] };
    assert.equal(r.from, 0);
    assert.ok(r.applied.length >= 2);
    const again = await run(['--mysql-url', mysql.url!, '--table-prefix', prefix]);
    assert.equal(again.exit, 0, again.err);
    assert.match(again.out, /nothing to do/);
  });

  test('the prefix from TACO_MYSQL_PREFIX or ?tablePrefix=: only prefixed tables are created', async () => {
    const viaEnv = runPrefix('env');
    const viaUrl = runPrefix('url');
    const saved = process.env.TACO_MYSQL_PREFIX;
    try {
      process.env.TACO_MYSQL_PREFIX = viaEnv;
      const a = await run(['--mysql-url', mysql.url!, '--json']);
      assert.equal(a.exit, 0, a.err);
      assert.equal((JSON.parse(a.out) as { tablePrefix: string }).tablePrefix, viaEnv);
      delete process.env.TACO_MYSQL_PREFIX;
      const b = await run(['--mysql-url', `${mysql.url!}?tablePrefix=${viaUrl}`]);
      assert.equal(b.exit, 0, b.err);
      assert.match(b.out, new RegExp(`tables ${viaUrl}\\*\\): schema 0 → ${LATEST_SCHEMA_VERSION}`));
      for (const p of [viaEnv, viaUrl]) {
        const db = await MysqlDb.connect(mysql.url!, { tablePrefix: p });
        try {
          const tables = await tablesOf(db, p);
          assert.ok(tables.includes(`${p}routes`) && tables.includes(`${p}schema_migrations`), tables.join());
          assert.equal(await schemaVersion(db), LATEST_SCHEMA_VERSION);
        } finally {
          await dropTables(db);
          await db.close();
        }
      }
      const c = await run(['--mysql-url', `${mysql.url!}?tablePrefix=x_`, '--table-prefix', 'y_']);
      assert.equal(c.exit, 2, 'two different prefixes are bad usage');
      assert.match(c.err, /disagrees/);
    } finally {
      if (saved === undefined) delete process.env.TACO_MYSQL_PREFIX;
      else process.env.TACO_MYSQL_PREFIX = saved;
    }
  });

  test('no server: exit 3 with the URL, password masked', async () => {
    const r = await run(['--mysql-url', 'mysql://root:hunter2@127.0.0.1:1/test']);
    assert.equal(r.exit, 3);
    assert.match(r.err, /cannot reach MySQL at mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/test/);
    assert.doesNotMatch(r.err, /hunter2/);
  });
});
