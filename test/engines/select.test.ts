// selectEngines: embedded twins by default, production engines from URLs, clear errors when one is missing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TacoError } from '../../src/core/errors.js';
import { AmqpQueue } from '../../src/engines/amqp/queue.js';
import { uniq } from '../../src/engines/contract/index.js';
import { maskUrl } from '../../src/engines/deadline.js';
import { MemoryMessageStore } from '../../src/engines/embedded/message-store.js';
import { MemoryQueue } from '../../src/engines/embedded/queue.js';
import { MemoryRouteStore } from '../../src/engines/embedded/route-store.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { migrate } from '../../src/engines/mysql/migrate.js';
import { connectRedis } from '../../src/engines/redis/client.js';
import { WriteThroughRouteStore } from '../../src/engines/redis/write-through-route-store.js';
import { selectEngines } from '../../src/engines/select.js';
import { resolveServeConfig } from '../../src/server/config-file.js';
import { selectServerEngines } from '../../src/server/engines.js';
import { runPrefix, service } from '../helpers/services.js';
import { deleteKeys, dropTables, quiet } from './fixtures.js';

const [redis, mysql, amqp] = await Promise.all([service('redis'), service('mysql'), service('amqp')]);

describe('selectEngines', () => {
  test('no URL: every role is embedded', async () => {
    const e = await selectEngines({ ezone: 'sh' });
    assert.ok(e.routes instanceof MemoryRouteStore);
    assert.ok(e.messages instanceof MemoryMessageStore);
    assert.ok(e.queue instanceof MemoryQueue);
    assert.deepEqual(e.describe, {
      routes: 'embedded',
      messages: 'embedded',
      queue: 'embedded',
      nodes: 'embedded',
    });
    await e.close();
  });

  test('unreachable servers: ENGINE_UNAVAILABLE naming each engine and URL, passwords masked', async () => {
    const started = Date.now();
    await assert.rejects(
      selectEngines({
        ezone: 'sh',
        redisUrl: 'redis://:s3cret@127.0.0.1:1',
        mysqlUrl: 'mysql://root:s3cret@127.0.0.1:1/taco',
        amqpUrl: 'amqp://guest:s3cret@127.0.0.1:1',
        log: quiet,
      }),
      (e: TacoError) => {
        assert.equal(e.code, 'ENGINE_UNAVAILABLE');
        assert.match(e.message, /Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
        assert.match(e.message, /MySQL at mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/taco/);
        assert.match(e.message, /RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/);
        assert.doesNotMatch(e.message, /s3cret/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 8_000);
  });

  test('maskUrl hides passwords only', () => {
    assert.equal(maskUrl('mysql://u:p@h:1/db'), 'mysql://u:***@h:1/db');
    assert.equal(maskUrl('redis://:p@h:1'), 'redis://:***@h:1');
    assert.equal(maskUrl('amqp://h:5672'), 'amqp://h:5672');
  });

  test('taco serve wiring: the table prefix from TACO_MYSQL_PREFIX or the URL reaches every query', {
    skip: mysql.skip,
  }, async () => {
    for (const how of ['env', 'url'] as const) {
      const tablePrefix = runPrefix(`sv${how}`);
      const db = await MysqlDb.connect(mysql.url!, { tablePrefix });
      try {
        await migrate(db);
        const mysqlUrl = how === 'url' ? `${mysql.url!}?tablePrefix=${tablePrefix}` : mysql.url!;
        const config = resolveServeConfig({ engines: { mysql: mysqlUrl } });
        const env = how === 'env' ? { TACO_MYSQL_PREFIX: tablePrefix } : {};
        const e = await selectServerEngines(config, quiet, env);
        try {
          assert.match(e.describe.messages!, new RegExp(`\\(tables ${tablePrefix}\\*\\)`));
          const app = uniq('app');
          await e.routes.put({ app, device: 'd', node: 1, ezone: 'sh', session: 's', updatedAt: 1 });
          await e.messages.setConfig(app, 'ios', { a: 1 });
          const routes = await db.query<unknown[]>(`SELECT * FROM ${db.t('routes')} WHERE app = ?`, [app]);
          const configs = await db.query<unknown[]>(`SELECT * FROM ${db.t('app_configs')} WHERE app = ?`, [
            app,
          ]);
          assert.equal(routes.length, 1, `${how}: the route is in ${tablePrefix}routes`);
          assert.equal(configs.length, 1, `${how}: the config is in ${tablePrefix}app_configs`);
        } finally {
          await e.close();
        }
      } finally {
        await dropTables(db);
        await db.close();
      }
    }
    // A schema migrated under one prefix is not current under another: the server refuses to start.
    await assert.rejects(
      selectServerEngines(resolveServeConfig({ engines: { mysql: mysql.url! } }), quiet, {
        TACO_MYSQL_PREFIX: runPrefix('none'),
      }),
      (e: TacoError) => e.code === 'ENGINE_UNAVAILABLE' && /taco db migrate/.test(e.message),
    );
  });

  test('all three URLs: production engines, schema checked, describe masks passwords', {
    skip: redis.skip || mysql.skip || amqp.skip,
  }, async () => {
    const tablePrefix = runPrefix('sel');
    const keyPrefix = `${tablePrefix}:`;
    const opts = {
      ezone: 'sh',
      redisUrl: redis.url,
      mysqlUrl: mysql.url,
      amqpUrl: amqp.url,
      tablePrefix,
      keyPrefix,
      queuePrefix: tablePrefix,
      log: quiet,
    };
    await assert.rejects(selectEngines(opts), (e: TacoError) => /taco db migrate/.test(e.message));
    const e = await selectEngines({ ...opts, migrate: true });
    try {
      assert.ok(e.routes instanceof WriteThroughRouteStore);
      assert.ok(e.queue instanceof AmqpQueue);
      assert.equal(e.describe.queue, maskUrl(amqp.url!));
      assert.match(e.describe.routes!, /\(cache\).*\(source of truth\)/);
      const app = uniq('app');
      await e.routes.put({ app, device: 'd', node: 1, ezone: 'sh', session: 's', updatedAt: 1 });
      assert.equal((await e.routes.get(app, 'd'))?.session, 's');
      await e.nodes.register(1, 'sh', '127.0.0.1:7001', 10_000);
      assert.equal((await e.nodes.lookup(1))?.address, '127.0.0.1:7001');
      await e.queue.publish('select-probe', { ok: true }, {});
      assert.equal((await e.queue.stats('select-probe')).ready, 1);
      assert.equal(await e.messages.getConfig(app, 'ios'), undefined);
    } finally {
      await (e.queue as AmqpQueue).deleteQueue('select-probe');
      await e.close();
      const db = await MysqlDb.connect(mysql.url!, { tablePrefix });
      await dropTables(db);
      await db.close();
      const c = await connectRedis(redis.url!);
      await deleteKeys(c, keyPrefix);
      c.disconnect();
    }
  });
});
