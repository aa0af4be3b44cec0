// Routes with MySQL as the source of truth and Redis as the cache: the RouteStore contract, rebuilding an
// empty Redis, serving through a Redis outage and restart without losing a route, and repairing missed writes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Route } from '../../src/core/ports.js';
import { eventually, routeStoreContract, uniq } from '../../src/engines/contract/index.js';
import type { MysqlDb } from '../../src/engines/mysql/db.js';
import { MysqlRouteStore } from '../../src/engines/mysql/route-store.js';
import { connectRedis, type RedisClient } from '../../src/engines/redis/client.js';
import { RedisRouteStore } from '../../src/engines/redis/route-store.js';
import { WriteThroughRouteStore } from '../../src/engines/redis/write-through-route-store.js';
import { hasCommand, runPrefix, service } from '../helpers/services.js';
import { deleteKeys, freshDb, freshRedis, privateRedis, quiet } from './fixtures.js';

const redis = await service('redis');
const mysql = await service('mysql');
const skip = redis.skip || mysql.skip;

routeStoreContract(
  'redis + mysql (write-through)',
  async () => {
    const r = await freshRedis(redis.url!, 'wt');
    const f = await freshDb(mysql.url!, 'wt');
    const wt = new WriteThroughRouteStore(
      r.client,
      new RedisRouteStore(r.client, { prefix: r.prefix }),
      new MysqlRouteStore(f.db),
      {
        log: quiet,
      },
    );
    await wt.start();
    return {
      subject: wt,
      async cleanup() {
        wt.close();
        await r.drop();
        await f.drop();
      },
    };
  },
  { skip },
);

function route(app: string, device: string, updatedAt: number, over: Partial<Route> = {}): Route {
  return { app, device, node: 1, ezone: 'sh', session: uniq('s'), updatedAt, ...over };
}

const noServer = (await hasCommand('redis-server')) ? false : 'redis-server is not installed';

describe('write-through route store', { skip: skip || noServer, timeout: 60_000 }, () => {
  let db: MysqlDb;
  let dropDb: () => Promise<void>;
  let truth: MysqlRouteStore;
  const open: { close(): void }[] = [];
  const clients: RedisClient[] = [];

  before(async () => {
    const f = await freshDb(mysql.url!, 'wtx');
    db = f.db;
    dropDb = f.drop;
    truth = new MysqlRouteStore(db);
  });
  after(async () => {
    for (const s of open) s.close();
    for (const c of clients) c.disconnect();
    await dropDb();
  });

  async function storeOn(url: string, prefix: string, commandTimeoutMs = 2_000) {
    const client = await connectRedis(url, { log: quiet, commandTimeoutMs });
    clients.push(client);
    const cache = new RedisRouteStore(client, { prefix });
    const wt = new WriteThroughRouteStore(client, cache, truth, {
      log: quiet,
      rebuildBatch: 100,
      pollMs: 50,
    });
    open.push(wt);
    return { wt, cache, client };
  }

  test('an empty Redis is rebuilt from MySQL: routes and memberships', async () => {
    const app = uniq('app');
    const routes = Array.from({ length: 350 }, (_, i) =>
      route(app, `d${i}`, 1_000 + i, { user: `u${i % 7}` }),
    );
    for (let i = 0; i < routes.length; i += 50)
      await Promise.all(routes.slice(i, i + 50).map((r) => truth.put(r)));
    await truth.remove(app, 'd0', routes[0]!.session);
    const prefix = `${runPrefix('rb')}:`;
    // Two nodes start on the same empty cache at once: one rebuilds under the lock, both end up ready.
    const [a, b] = await Promise.all([storeOn(redis.url!, prefix), storeOn(redis.url!, prefix)]);
    await Promise.all([a.wt.start(), b.wt.start()]);
    assert.equal(a.wt.cacheState, 'ready');
    assert.equal(b.wt.cacheState, 'ready');
    try {
      // Straight from Redis, not through the fallback.
      assert.equal(await a.cache.get(app, 'd0'), undefined);
      for (const r of routes.slice(1)) assert.equal((await a.cache.get(app, r.device))?.session, r.session);
      assert.equal((await a.cache.devicesOfApp(app)).length, 350);
      assert.deepEqual(
        (await a.cache.devicesOfUser(app, 'u3')).sort(),
        routes
          .filter((r) => r.user === 'u3')
          .map((r) => r.device)
          .sort(),
      );
    } finally {
      await deleteKeys(a.client, prefix);
    }
  });

  test('Redis down, then restarted empty: reads and writes keep working on MySQL and nothing is lost', async () => {
    const own = await privateRedis();
    try {
      const { wt, cache } = await storeOn(own.url, 'taco:', 300);
      await wt.start();
      assert.equal(wt.cacheState, 'ready');
      const app = uniq('app');
      const latest = new Map<string, Route>();
      let stopWriting = false;
      let failures = 0;
      const writer = (async () => {
        for (let i = 0; !stopWriting; i++) {
          const r = route(app, `d${i % 40}`, 10_000 + i, { user: `u${i % 5}` });
          try {
            await wt.put(r);
            latest.set(r.device, r);
          } catch {
            failures++;
          }
          await new Promise((res) => setTimeout(res, 3));
        }
      })();
      await eventually(() => latest.size >= 10, 5_000, 'some routes written before the outage');
      await own.stop();
      await eventually(() => wt.cacheState === 'down', 2_000, 'the store notices Redis is gone');
      // While Redis is down: a new route is readable (it can only come from MySQL).
      const during = route(app, 'during-outage', 99_999_999, { user: 'u-out' });
      await wt.put(during);
      assert.equal((await wt.get(app, 'during-outage'))?.session, during.session);
      assert.deepEqual(await wt.devicesOfUser(app, 'u-out'), ['during-outage']);
      const written = latest.size;
      await eventually(
        () => latest.size > written || latest.size === 40,
        5_000,
        'writes go on during the outage',
      );
      await new Promise((r) => setTimeout(r, 200));
      await own.start(); // empty: no persistence
      await wt.whenReady(10_000);
      await new Promise((r) => setTimeout(r, 100));
      stopWriting = true;
      await writer;
      assert.equal(failures, 0, 'writes never failed: MySQL took them');
      for (const [device, r] of latest) {
        assert.equal((await wt.get(app, device))?.session, r.session, `latest route of ${device}`);
        assert.equal(
          (await cache.get(app, device))?.session,
          r.session,
          `Redis has the latest route of ${device}`,
        );
      }
      assert.equal((await cache.get(app, 'during-outage'))?.session, during.session);
      assert.deepEqual((await cache.devicesOfApp(app)).sort(), [...latest.keys(), 'during-outage'].sort());
    } finally {
      await own.stop();
    }
  });

  test('a Redis write that times out is read from MySQL until repaired', async () => {
    const own = await privateRedis();
    try {
      const { wt, cache } = await storeOn(own.url, 'taco:', 200);
      await wt.start();
      const app = uniq('app');
      const v1 = route(app, 'd', 1_000);
      await wt.put(v1);
      const adminClient = await connectRedis(own.url, { log: quiet });
      clients.push(adminClient);
      await adminClient.call('CLIENT', 'PAUSE', '700', 'WRITE');
      const v2 = route(app, 'd', 2_000, { node: 2 });
      await wt.put(v2); // MySQL takes it; the Redis script times out
      assert.ok(wt.pendingRepairs >= 1, 'the missed write is remembered');
      assert.equal((await wt.get(app, 'd'))?.session, v2.session, 'read from MySQL, not the stale cache');
      await eventually(() => wt.pendingRepairs === 0, 5_000, 'repaired after the pause');
      assert.equal((await cache.get(app, 'd'))?.session, v2.session);
      assert.equal(wt.cacheState, 'ready');
    } finally {
      await own.stop();
    }
  });
});
