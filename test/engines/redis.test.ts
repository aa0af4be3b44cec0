// Routes and the node directory on Redis alone, held to the engine contracts; URL parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeDirectoryContract, routeStoreContract } from '../../src/engines/contract/index.js';
import { parseRedisUrl } from '../../src/engines/redis/client.js';
import { RedisNodeDirectory } from '../../src/engines/redis/node-directory.js';
import { RedisRouteStore } from '../../src/engines/redis/route-store.js';
import { service } from '../helpers/services.js';
import { freshRedis } from './fixtures.js';

const redis = await service('redis');

routeStoreContract(
  'redis',
  async () => {
    const r = await freshRedis(redis.url!, 'rr');
    return { subject: new RedisRouteStore(r.client, { prefix: r.prefix, scanCount: 2 }), cleanup: r.drop };
  },
  { skip: redis.skip },
);

nodeDirectoryContract(
  'redis',
  async () => {
    const r = await freshRedis(redis.url!, 'nd');
    return { subject: new RedisNodeDirectory(r.client, { prefix: r.prefix }), cleanup: r.drop };
  },
  { skip: redis.skip },
);

describe('Redis URLs', () => {
  test('standalone, with credentials and db', () => {
    assert.deepEqual(parseRedisUrl('redis://u:p%40ss@cache.internal:6380/2'), {
      cluster: false,
      nodes: [{ host: 'cache.internal', port: 6380 }],
      username: 'u',
      password: 'p@ss',
      db: 2,
      tls: false,
    });
    assert.equal(parseRedisUrl('redis://127.0.0.1').nodes[0]!.port, 6379);
    assert.equal(parseRedisUrl('rediss://h:1').tls, true);
  });

  test('cluster by scheme, by parameter or by several hosts', () => {
    assert.equal(parseRedisUrl('redis+cluster://a:7000').cluster, true);
    assert.equal(parseRedisUrl('redis://a:7000?cluster=1').cluster, true);
    const t = parseRedisUrl('redis://:secret@a:7000,b:7001,[::1]:7002');
    assert.equal(t.cluster, true);
    assert.equal(t.password, 'secret');
    assert.deepEqual(t.nodes, [
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  test('a Cluster has only database 0', () => {
    assert.throws(
      () => parseRedisUrl('redis+cluster://:pw@a:7000/2'),
      (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && /database 0/.test(e.message),
    );
    assert.equal(parseRedisUrl('redis+cluster://a:7000/0').db, 0);
  });

  test('a bad URL is a BAD_INPUT error that does not leak the password', () => {
    assert.throws(
      () => parseRedisUrl('http://u:hunter2@x'),
      (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && !e.message.includes('hunter2'),
    );
  });
});
