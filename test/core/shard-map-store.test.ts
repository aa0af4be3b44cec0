// Shard map stores held to one contract: memory, file (shared by processes of a host) and MySQL (shared by
// every ezone): compare-and-set on the version, history, and every watcher learns a commit within a second.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TacoError } from '../../src/core/errors.js';
import type { ShardMapStore } from '../../src/core/ports.js';
import { applyShardMapChange, createShardMap, type ShardMapState } from '../../src/core/shard-map.js';
import { FileShardMapStore, MemoryShardMapStore } from '../../src/engines/embedded/shard-map-store.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { MysqlShardMapStore } from '../../src/engines/mysql/shard-map-store.js';
import { runPrefix, service } from '../helpers/services.js';

const mysql = await service('mysql');
const meta = { by: 'test', at: 1 };
const v1 = () => createShardMap({ shards: 30, ezones: ['sh', 'bj'], at: 1, by: 'test' });

/** Two handles on one store (two nodes), or the same one twice for in-process stores. */
interface Pair {
  a: ShardMapStore;
  b: ShardMapStore;
  cleanup(): Promise<void>;
}

function contract(name: string, open: () => Promise<Pair>, opts: { skip?: string | false } = {}) {
  describe(`shard map store: ${name}`, { skip: opts.skip }, () => {
    test('empty, then versions 1, 2, 3 with history newest first', async () => {
      const { a, b, cleanup } = await open();
      try {
        assert.equal(await a.current(), undefined);
        await a.commit(v1());
        const m2 = applyShardMapChange(v1(), { kind: 'shards', shards: [0, 1], to: 'bj' }, meta);
        await b.commit(m2);
        const m3 = applyShardMapChange(m2, { kind: 'region', region: 'sh', to: 'bj' }, meta);
        await a.commit(m3);
        assert.deepEqual(await b.current(), m3);
        assert.deepEqual(
          (await b.history(10)).map((m) => m.version),
          [3, 2, 1],
        );
        assert.deepEqual(
          (await a.history(2)).map((m) => m.version),
          [3, 2],
        );
        assert.deepEqual(await b.get(2), m2);
        assert.equal(await b.get(9), undefined);
      } finally {
        await cleanup();
      }
    });

    test('compare-and-set: of two changes on the same base, one wins and one is refused', async () => {
      const { a, b, cleanup } = await open();
      try {
        await a.commit(v1());
        const x = applyShardMapChange(v1(), { kind: 'shards', shards: [0], to: 'bj' }, meta);
        const y = applyShardMapChange(v1(), { kind: 'shards', shards: [1], to: 'bj' }, meta);
        const r = await Promise.allSettled([a.commit(x), b.commit(y)]);
        assert.equal(r.filter((p) => p.status === 'fulfilled').length, 1);
        const lost = r.find((p) => p.status === 'rejected') as PromiseRejectedResult;
        assert.equal((lost.reason as TacoError).details?.conflict, true);
        assert.equal((await a.current())!.version, 2);
        await assert.rejects(
          a.commit({ ...v1(), version: 5 }),
          (e: TacoError) => e.details?.conflict === true,
        );
        await assert.rejects(
          a.commit({ ...x, version: 3, shards: x.shards.map(() => 'gz') }),
          /would have no ezone/,
        );
      } finally {
        await cleanup();
      }
    });

    test('a watcher on another handle learns a commit within a second', async () => {
      const { a, b, cleanup } = await open();
      try {
        await a.commit(v1());
        const got: ShardMapState[] = [];
        const stop = b.watch((m) => got.push(m));
        const m2 = applyShardMapChange(v1(), { kind: 'region', region: 'bj', to: 'sh' }, meta);
        const t0 = Date.now();
        await a.commit(m2);
        while (!got.some((m) => m.version === 2) && Date.now() - t0 < 3_000)
          await new Promise((r) => setTimeout(r, 10));
        stop();
        assert.ok(
          got.some((m) => m.version === 2),
          'no notification',
        );
        assert.ok(Date.now() - t0 < 1_000, `learned after ${Date.now() - t0} ms`);
      } finally {
        await cleanup();
      }
    });
  });
}

contract('memory', async () => {
  const s = new MemoryShardMapStore();
  return { a: s, b: s, cleanup: async () => {} };
});

contract('file', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'taco-gzs-')), 'shard-map.json');
  return {
    a: new FileShardMapStore(path, { pollMs: 50 }),
    b: new FileShardMapStore(path, { pollMs: 50 }),
    cleanup: async () => {},
  };
});

contract(
  'mysql',
  async () => {
    const prefix = runPrefix('gzs');
    const dbA = await MysqlDb.connect(mysql.url!, { tablePrefix: prefix });
    const dbB = await MysqlDb.connect(mysql.url!, { tablePrefix: prefix });
    const a = new MysqlShardMapStore(dbA);
    const b = new MysqlShardMapStore(dbB);
    await a.ensureTable();
    await b.ensureTable();
    return {
      a,
      b,
      async cleanup() {
        a.close();
        b.close();
        await dbA.query(`DROP TABLE IF EXISTS ${dbA.t('shard_map_versions')}`);
        await dbA.close();
        await dbB.close();
      },
    };
  },
  { skip: mysql.skip },
);
