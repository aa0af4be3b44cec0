/**
 * `taco serve --workers 2` on the real Redis, MariaDB and RabbitMQ: two
 * nodes sharing the ports, each with its own sessions; pushes accepted by one
 * worker reach devices signed in on the other (internal gRPC peer), and every
 * one is delivered and ACKed. Sandboxed: a schema and a vhost of its own,
 * Redis database 15 (the multinode tests use 14, failover 11–13).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { connectRedis } from '../../src/engines/redis/client.js';
import type { ConnectResult } from '../../src/load/connect.js';
import type { PushResult } from '../../src/load/push.js';
import { scrapeNodes } from '../../src/load/server-metrics.js';
import { taco } from '../helpers/cli.js';
import { admin, hasCommand, service } from '../helpers/services.js';
import { loadJson, type Served, serve } from './harness.js';

const quiet = () => {};
const [redis, mysql, amqp] = await Promise.all([service('redis'), service('mysql'), service('amqp')]);
const ctl = await hasCommand('rabbitmqctl');
const skip =
  redis.skip || mysql.skip || amqp.skip || (ctl ? false : 'rabbitmqctl is needed to create the run’s vhost');

const base = (url: string) => {
  const u = new URL(url);
  u.pathname = '';
  return u.toString().replace(/\/$/, '');
};

describe('taco serve --workers 2 with shared engines', { skip }, () => {
  const tag = randomBytes(3).toString('hex');
  const schema = `taco_lt_${tag}`;
  const vhost = `taco-lt-${tag}`;
  const env = {
    TACO_REDIS_URL: `${base(redis.url!)}/15`,
    TACO_MYSQL_URL: mysql.url!.replace(/\/[^/?]*(\?.*)?$/, `/${schema}$1`),
    TACO_AMQP_URL: `${base(amqp.url!)}/${encodeURIComponent(vhost)}`,
  };
  const cleanups: (() => Promise<unknown>)[] = [];
  let s: Served;

  before(async () => {
    const root = await MysqlDb.connect(mysql.url!, { log: quiet });
    cleanups.push(() => root.close());
    await root.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    cleanups.push(() => root.query(`DROP DATABASE IF EXISTS \`${schema}\``));
    const m = await taco(['db', 'migrate', '--mysql-url', env.TACO_MYSQL_URL], { timeoutMs: 60_000 });
    assert.equal(m.code, 0, m.stderr);
    await admin('rabbitmqctl', ['add_vhost', vhost]);
    cleanups.push(() => admin('rabbitmqctl', ['delete_vhost', vhost]));
    await admin('rabbitmqctl', ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    const r = await connectRedis(env.TACO_REDIS_URL, { log: quiet });
    await r.flushdb();
    cleanups.push(async () => {
      await r.flushdb();
      r.disconnect();
    });
    s = await serve(['--workers', '2', '--node', '40'], env);
  });

  after(async () => {
    await s?.proc.stop();
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  test('the ready line names both nodes and their peer addresses', () => {
    const ready = s.proc.ready as unknown as {
      workers: number;
      nodes: number[];
      peers: Record<string, string>;
    };
    assert.equal(ready.workers, 2);
    assert.deepEqual(ready.nodes, [40, 41]);
    assert.notEqual(ready.peers['40'], ready.peers['41']);
  });

  test('sessions spread over both workers, and pushes reach devices on either', async () => {
    const c = await loadJson<ConnectResult>(['connect', ...s.flags, '--clients', '200', '--hold', '2s']);
    assert.equal(c.connect.signedIn, 200);
    assert.equal(c.server?.nodes, 2, 'both workers answered /metrics');
    const p = await loadJson<PushResult>(
      [
        'push',
        ...s.flags,
        '--clients',
        '200',
        '--rate',
        '50',
        '--duration',
        '2s',
        '--warmup',
        '0s',
        '--drain',
        '15s',
      ],
      120_000,
    );
    assert.equal(p.counts.accepted, 100);
    assert.equal(p.delivered, 100);
    assert.equal(p.acked, 100);
    const f = await scrapeNodes(s.http);
    assert.equal(f.nodes, 2);
  });

  test('SIGTERM stops every worker', async () => {
    await s.proc.stop();
    assert.equal(s.proc.child.exitCode, 0);
  });
});
