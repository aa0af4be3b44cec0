// `taco db migrate`, in process: applies the schema, is idempotent, and fails cleanly without a server.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import DbMigrate from '../../src/commands/db/migrate.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
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

  test('no server: exit 3 with the URL, password masked', async () => {
    const r = await run(['--mysql-url', 'mysql://root:hunter2@127.0.0.1:1/test']);
    assert.equal(r.exit, 3);
    assert.match(r.err, /cannot reach MySQL at mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/test/);
    assert.doesNotMatch(r.err, /hunter2/);
  });
});
