// Long, disruptive drills (TACO_LONG_TESTS=1): restart the machine's shared Redis, a master of the Redis
// Cluster, and RabbitMQ with the commands CI uses (scripts/ensure-services.sh) in the middle of a run, and
// check nothing is lost. (MariaDB: restart-mysql.test.ts.)
// They take the shared services down for everyone for a few seconds: don't run them next to other work.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Route } from '../../src/core/ports.js';
import { AmqpQueue } from '../../src/engines/amqp/queue.js';
import { eventually, uniq } from '../../src/engines/contract/index.js';
import { MysqlRouteStore } from '../../src/engines/mysql/route-store.js';
import { connectRedis, isCluster } from '../../src/engines/redis/client.js';
import { RedisRouteStore } from '../../src/engines/redis/route-store.js';
import { WriteThroughRouteStore } from '../../src/engines/redis/write-through-route-store.js';
import { admin, longTests, probeTcp, runPrefix, service } from '../helpers/services.js';
import { deleteKeys, deleteQueues, freshDb, quiet } from './fixtures.js';

const ENSURE = fileURLToPath(new URL('../../scripts/ensure-services.sh', import.meta.url));
const [redis, mysql, amqp, cluster] = await Promise.all([
  service('redis'),
  service('mysql'),
  service('amqp'),
  service('redis-cluster'),
]);
const long = longTests() ? false : 'set TACO_LONG_TESTS=1 (restarts the shared services)';

describe('restarting the shared services mid-run', { skip: long, timeout: 120_000 }, () => {
  test('Redis: shutdown nosave, restarted by ensure-services.sh: no route lost', {
    skip: redis.skip || mysql.skip,
    timeout: 55_000,
  }, async () => {
    const f = await freshDb(mysql.url!, 'lr');
    const client = await connectRedis(redis.url!, { log: quiet, commandTimeoutMs: 500 });
    const prefix = `${runPrefix('lr')}:`;
    const cache = new RedisRouteStore(client, { prefix });
    const wt = new WriteThroughRouteStore(client, cache, new MysqlRouteStore(f.db), {
      log: quiet,
      pollMs: 50,
    });
    try {
      await wt.start();
      const app = uniq('app');
      const latest = new Map<string, Route>();
      let stop = false;
      let failures = 0;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          const r: Route = {
            app,
            device: `d${i % 30}`,
            node: 1,
            ezone: 'sh',
            session: uniq('s'),
            updatedAt: 1_000 + i,
          };
          await wt.put(r).then(
            () => latest.set(r.device, r),
            () => failures++,
          );
          await new Promise((res) => setTimeout(res, 5));
        }
      })();
      await new Promise((r) => setTimeout(r, 200));
      await admin('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown', 'nosave']).catch(() => '');
      await eventually(async () => !(await probeTcp('127.0.0.1', 6379, 200)), 5_000, 'redis is down');
      await admin('bash', [ENSURE], 60_000);
      await wt.whenReady(15_000);
      await new Promise((r) => setTimeout(r, 200));
      stop = true;
      await writer;
      assert.equal(failures, 0);
      for (const [device, r] of latest) assert.equal((await cache.get(app, device))?.session, r.session);
    } finally {
      wt.close();
      await deleteKeys(client, prefix).catch(() => {});
      client.disconnect();
      await f.drop();
    }
  });

  test('Redis Cluster: one master shut down (nosave), restarted by ensure-services.sh: no route lost', {
    skip: cluster.skip || mysql.skip,
    timeout: 55_000,
  }, async () => {
    const f = await freshDb(mysql.url!, 'lc');
    const client = await connectRedis(cluster.url!, { log: quiet, commandTimeoutMs: 500 });
    assert.ok(isCluster(client));
    const prefix = `${runPrefix('lc')}:`;
    const cache = new RedisRouteStore(client, { prefix });
    const wt = new WriteThroughRouteStore(client, cache, new MysqlRouteStore(f.db), {
      log: quiet,
      pollMs: 50,
      verifyMs: 200,
    });
    try {
      await wt.start();
      assert.equal(wt.markerKeys().length, 3);
      const app = uniq('app');
      const latest = new Map<string, Route>();
      let stop = false;
      let failures = 0;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          const r: Route = {
            app,
            device: `d${i % 30}`,
            node: 1,
            ezone: 'sh',
            session: uniq('s'),
            updatedAt: 1_000 + i,
          };
          await wt.put(r).then(
            () => latest.set(r.device, r),
            () => failures++,
          );
          await new Promise((res) => setTimeout(res, 5));
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      // The last master: its routes and its marker go with it (no persistence).
      const port = String(cluster.url!.split(',').pop()!.split(':').pop());
      await admin('redis-cli', ['-h', '127.0.0.1', '-p', port, 'shutdown', 'nosave']).catch(() => '');
      await eventually(
        async () => !(await probeTcp('127.0.0.1', Number(port), 200)),
        5_000,
        'the master is down',
      );
      // Meanwhile every route is still readable (from Redis, or from MySQL for what Redis could not take),
      // at least as new as the last write we saw (the writer goes on meanwhile).
      for (const [device, r] of [...latest]) {
        const got = await wt.get(app, device);
        assert.ok(got && got.updatedAt >= r.updatedAt, `${device}: ${got?.updatedAt} < ${r.updatedAt}`);
      }
      await admin('bash', [ENSURE], 60_000);
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await writer;
      assert.equal(failures, 0, 'writes never failed: MySQL took them');
      await eventually(
        async () => {
          for (const [device, r] of latest)
            if ((await cache.get(app, device))?.session !== r.session) return false;
          return wt.pendingRepairs === 0 && wt.cacheState === 'ready';
        },
        15_000,
        'every latest route back in the cluster',
        100,
      );
    } finally {
      await admin('bash', [ENSURE], 60_000).catch(() => ''); // the master is back, whatever failed
      wt.close();
      await deleteKeys(client, prefix).catch(() => {});
      client.disconnect();
      await f.drop();
    }
  });

  test('RabbitMQ: node stopped, restarted by ensure-services.sh: no message lost', {
    skip: amqp.skip,
    timeout: 90_000,
  }, async () => {
    const q = await AmqpQueue.connect(amqp.url!, {
      queuePrefix: runPrefix('lq'),
      log: quiet,
      publishTimeoutMs: 60_000,
    });
    const name = uniq('full-restart');
    try {
      const seen = new Set<number>();
      const h = await q.consume<{ i: number }>(name, async (d) => void seen.add(d.body.i), {
        concurrency: 4,
      });
      const n = 200;
      const pubs: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        if (i === 100) {
          await admin('rabbitmqctl', ['stop'], 60_000);
          void admin('bash', [ENSURE], 80_000);
        }
        pubs.push(q.publish(name, { i }, {}));
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(pubs);
      await eventually(() => seen.size === n, 60_000, `all ${n} consumed (have ${seen.size})`);
      await h.cancel();
    } finally {
      await deleteQueues(q, [name]);
      await q.close();
    }
  });
});
