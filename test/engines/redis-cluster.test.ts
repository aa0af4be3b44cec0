// The Redis engines on a real Redis Cluster (3 masters on :7000-7002, started by scripts/ensure-services.sh):
// the RouteStore and NodeDirectory contracts on Redis alone and write-through, keys really spread over every
// master, hash slots computed as the server does, one rebuild marker per master, and a master that loses its
// data is noticed and rebuilt from MySQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Route } from '../../src/core/ports.js';
import {
  eventually,
  nodeDirectoryContract,
  routeStoreContract,
  uniq,
} from '../../src/engines/contract/index.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { MysqlRouteStore } from '../../src/engines/mysql/route-store.js';
import { connectRedis, isCluster, keySlot, type RedisClient } from '../../src/engines/redis/client.js';
import { RedisNodeDirectory } from '../../src/engines/redis/node-directory.js';
import { RedisRouteStore } from '../../src/engines/redis/route-store.js';
import { WriteThroughRouteStore } from '../../src/engines/redis/write-through-route-store.js';
import { selectEngines } from '../../src/engines/select.js';
import { runPrefix, service } from '../helpers/services.js';
import { deleteKeys, dropTables, freshDb, freshRedis, quiet } from './fixtures.js';

const [cluster, mysql] = await Promise.all([service('redis-cluster'), service('mysql')]);

routeStoreContract(
  'redis cluster',
  async () => {
    const r = await freshRedis(cluster.url!, 'rc');
    assert.ok(isCluster(r.client), 'the URL must give a Cluster client');
    return { subject: new RedisRouteStore(r.client, { prefix: r.prefix, scanCount: 2 }), cleanup: r.drop };
  },
  { skip: cluster.skip },
);

nodeDirectoryContract(
  'redis cluster',
  async () => {
    const r = await freshRedis(cluster.url!, 'nc');
    return { subject: new RedisNodeDirectory(r.client, { prefix: r.prefix }), cleanup: r.drop };
  },
  { skip: cluster.skip },
);

routeStoreContract(
  'redis cluster + mysql (write-through)',
  async () => {
    const r = await freshRedis(cluster.url!, 'wc');
    const f = await freshDb(mysql.url!, 'wc');
    const wt = new WriteThroughRouteStore(
      r.client,
      new RedisRouteStore(r.client, { prefix: r.prefix }),
      new MysqlRouteStore(f.db),
      { log: quiet },
    );
    await wt.start();
    assert.equal(wt.cacheState, 'ready');
    return {
      subject: wt,
      async cleanup() {
        wt.close();
        await r.drop();
        await f.drop();
      },
    };
  },
  { skip: cluster.skip || mysql.skip },
);

function route(app: string, device: string, updatedAt: number, over: Partial<Route> = {}): Route {
  return { app, device, node: 1, ezone: 'sh', session: uniq('s'), updatedAt, ...over };
}

/** The keys of `prefix` held by each master, by its host:port. */
async function keysByMaster(client: RedisClient, prefix: string): Promise<Map<string, string[]>> {
  assert.ok(isCluster(client));
  const out = new Map<string, string[]>();
  for (const node of client.nodes('master')) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      keys.push(...page);
      cursor = next;
    } while (cursor !== '0');
    out.set(`${node.options.host}:${node.options.port}`, keys);
  }
  return out;
}

describe('Redis Cluster specifics', { skip: cluster.skip || mysql.skip, timeout: 60_000 }, () => {
  let client: RedisClient;
  let db: Awaited<ReturnType<typeof freshDb>>;
  const prefixes: string[] = [];
  const open: WriteThroughRouteStore[] = [];

  before(async () => {
    client = await connectRedis(cluster.url!, { log: quiet });
    db = await freshDb(mysql.url!, 'cs');
  });
  after(async () => {
    for (const s of open) s.close();
    for (const p of prefixes) await deleteKeys(client, p).catch(() => {});
    client?.disconnect();
    await db?.drop();
  });

  function freshPrefix(tag: string): string {
    const p = `${runPrefix(tag)}:`;
    prefixes.push(p);
    return p;
  }

  test("three masters serve every slot, and the keySlot the markers use is the server's", async () => {
    assert.ok(isCluster(client));
    assert.equal(client.nodes('master').length, 3);
    const samples = ['taco:r:shop:d1', 'taco:built:{0}', '{tag}x', 'a{}b', 'x{a}y{b}', 'héllo', uniq('k')];
    for (const k of samples) assert.equal(keySlot(k), Number(await client.cluster('KEYSLOT', k)), k);
  });

  test('routes spread over every master; the write-through markers, one per master, too', async () => {
    const prefix = freshPrefix('sp');
    const cache = new RedisRouteStore(client, { prefix });
    const wt = new WriteThroughRouteStore(client, cache, new MysqlRouteStore(db.db), { log: quiet });
    open.push(wt);
    await wt.start();
    assert.equal(wt.cacheState, 'ready');
    const app = uniq('app');
    for (let i = 0; i < 60; i++) await wt.put(route(app, `d${i}`, 1_000 + i, { user: `u${i % 4}` }));
    const byMaster = await keysByMaster(client, prefix);
    assert.equal(byMaster.size, 3);
    for (const [master, keys] of byMaster) {
      assert.ok(
        keys.some((k) => k.startsWith(`${prefix}r:`)),
        `${master} holds routes`,
      );
      assert.equal(
        keys.filter((k) => k.startsWith(`${prefix}built`)).length,
        1,
        `${master} holds one marker`,
      );
    }
    assert.equal(wt.markerKeys().length, 3);
    assert.equal((await wt.devicesOfApp(app)).length, 60);
    assert.equal((await cache.devicesOfUser(app, 'u1')).length, 15);
  });

  test('a master that lost its data is noticed by its marker and rebuilt from MySQL', async () => {
    const prefix = freshPrefix('lo');
    const cache = new RedisRouteStore(client, { prefix });
    const wt = new WriteThroughRouteStore(client, cache, new MysqlRouteStore(db.db), {
      log: quiet,
      pollMs: 50,
      verifyMs: 100,
    });
    open.push(wt);
    await wt.start();
    const app = uniq('app');
    const routes = Array.from({ length: 60 }, (_, i) => route(app, `d${i}`, 5_000 + i));
    for (const r of routes) await wt.put(r);
    // What a master restarted without persistence looks like to us: every key of ours on it is gone,
    // while the client's connections to the other masters never dropped (no 'close'/'ready' event).
    const byMaster = await keysByMaster(client, prefix);
    const [victim, keys] = [...byMaster].find(([, ks]) => ks.some((k) => k.startsWith(`${prefix}r:`)))!;
    assert.ok(isCluster(client));
    const node = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === victim)!;
    for (const k of keys) await node.del(k);
    const lost = routes.filter((r) => keys.includes(cache.routeKey(r.app, r.device)));
    assert.ok(lost.length > 0);
    assert.equal(await cache.get(app, lost[0]!.device), undefined, 'the route really is gone from Redis');
    assert.equal(client.status, 'ready');
    await eventually(
      async () => (await cache.get(app, lost[0]!.device)) !== undefined,
      5_000,
      'the periodic check rebuilt the lost master',
    );
    await wt.whenReady(5_000);
    for (const r of routes) assert.equal((await cache.get(app, r.device))?.session, r.session, r.device);
    assert.equal(
      (await keysByMaster(client, prefix)).get(victim)!.filter((k) => k.includes('built')).length,
      1,
    );
  });

  test('selectEngines takes a redis+cluster:// URL: Cluster routes and node directory', async () => {
    const tablePrefix = runPrefix('scl');
    const keyPrefix = freshPrefix('scl');
    const e = await selectEngines({
      ezone: 'sh',
      redisUrl: cluster.url,
      mysqlUrl: mysql.url,
      tablePrefix,
      keyPrefix,
      migrate: true,
      log: quiet,
    });
    try {
      assert.ok(e.routes instanceof WriteThroughRouteStore);
      assert.equal((e.routes as WriteThroughRouteStore).cacheState, 'ready');
      const app = uniq('app');
      for (let i = 0; i < 10; i++) await e.routes.put(route(app, `d${i}`, 1 + i));
      assert.equal((await e.routes.devicesOfApp(app)).length, 10);
      await e.nodes.register(3, 'sh', '127.0.0.1:9003', 10_000);
      assert.equal((await e.nodes.lookup(3))?.address, '127.0.0.1:9003');
      const where = [...(await keysByMaster(client, keyPrefix)).values()].filter((ks) => ks.length > 0);
      assert.equal(where.length, 3, 'the keys are spread over the cluster');
    } finally {
      await e.close();
      const d = await MysqlDb.connect(mysql.url!, { tablePrefix });
      await dropTables(d);
      await d.close();
    }
  });
});
