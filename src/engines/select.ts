/**
 * Picks the engine of each role: the production one when its URL is given,
 * else the embedded twin. `taco serve` calls this with TACO_REDIS_URL /
 * TACO_MYSQL_URL / TACO_AMQP_URL.
 *
 * | role     | Redis + MySQL             | Redis only | MySQL only | neither  |
 * |----------|---------------------------|------------|------------|----------|
 * | routes   | write-through (MySQL truth)| Redis      | MySQL      | embedded |
 * | messages | MySQL if given, else embedded                                  |
 * | queue    | RabbitMQ if given, else embedded                               |
 * | nodes    | Redis if given, else embedded (single process)                 |
 *
 * Redis standalone or Cluster is chosen by the URL (`redis+cluster://h1:7000,h2:7001`, see
 * redis/client.ts); the MySQL table prefix comes from `tablePrefix` or the URL's `?tablePrefix=`.
 *
 * A server that does not answer at start fails with ENGINE_UNAVAILABLE naming
 * the engine and the URL (password masked); whatever did connect is closed.
 */
import { TacoError } from '../core/errors.js';
import type { MessageStore, NodeDirectory, Queue, RouteStore } from '../core/ports.js';
import { AmqpQueue } from './amqp/queue.js';
import { maskUrl } from './deadline.js';
import { MemoryMessageStore } from './embedded/message-store.js';
import { MemoryNodeDirectory } from './embedded/node-directory.js';
import { MemoryQueue } from './embedded/queue.js';
import { MemoryRouteStore } from './embedded/route-store.js';
import { MysqlDb } from './mysql/db.js';
import { MysqlMessageStore } from './mysql/message-store.js';
import { assertSchemaCurrent, migrate } from './mysql/migrate.js';
import { MysqlRouteStore } from './mysql/route-store.js';
import { connectRedis, type RedisClient } from './redis/client.js';
import { RedisNodeDirectory } from './redis/node-directory.js';
import { RedisRouteStore } from './redis/route-store.js';
import { WriteThroughRouteStore } from './redis/write-through-route-store.js';

export interface Engines {
  routes: RouteStore;
  messages: MessageStore;
  queue: Queue;
  nodes: NodeDirectory;
  /** role → 'embedded' or the engine's URL with its password masked. */
  describe: Record<string, string>;
  close(): Promise<void>;
}

export interface SelectEnginesOptions {
  redisUrl?: string | undefined;
  mysqlUrl?: string | undefined;
  amqpUrl?: string | undefined;
  ezone: string;
  log?: ((msg: string) => void) | undefined;
  /** Redis key prefix (default `taco:`). */
  keyPrefix?: string;
  /** MySQL table prefix (default: the URL's `?tablePrefix=`, else none). */
  tablePrefix?: string | undefined;
  /** RabbitMQ queue name prefix (default none). */
  queuePrefix?: string;
  /** Apply pending schema migrations instead of failing when the schema is behind (default false). */
  migrate?: boolean;
}

type Closer = () => Promise<void> | void;

async function openMysql(url: string, o: SelectEnginesOptions): Promise<MysqlDb> {
  const db = await MysqlDb.connect(url, { tablePrefix: o.tablePrefix, log: o.log });
  try {
    if (o.migrate) await migrate(db, { log: o.log });
    else await assertSchemaCurrent(db);
    return db;
  } catch (e) {
    await db.close();
    throw e;
  }
}

export async function selectEngines(opts: SelectEnginesOptions): Promise<Engines> {
  const log = opts.log ?? (() => {});
  const [redis, db, amqp] = await Promise.allSettled([
    opts.redisUrl ? connectRedis(opts.redisUrl, { log }) : undefined,
    opts.mysqlUrl ? openMysql(opts.mysqlUrl, opts) : undefined,
    opts.amqpUrl
      ? AmqpQueue.connect(opts.amqpUrl, {
          log,
          queuePrefix: opts.queuePrefix,
          connectionName: `taco ${opts.ezone}`,
        })
      : undefined,
  ]);
  const closers: Closer[] = [];
  if (redis.status === 'fulfilled' && redis.value) closers.push(() => void redis.value!.disconnect());
  if (db.status === 'fulfilled' && db.value) closers.push(() => db.value!.close());
  if (amqp.status === 'fulfilled' && amqp.value) closers.push(() => amqp.value!.close());
  const failed = [redis, db, amqp].filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  if (failed.length) {
    await Promise.allSettled(closers.map((c) => c()));
    const errs = failed.map((f) => f.reason as Error);
    if (errs.length === 1) throw errs[0];
    throw new TacoError('ENGINE_UNAVAILABLE', errs.map((e) => e.message).join('; '), undefined, {
      cause: errs[0],
    });
  }

  const client = redis.status === 'fulfilled' ? (redis.value as RedisClient | undefined) : undefined;
  const mysql = db.status === 'fulfilled' ? db.value : undefined;
  const queue = amqp.status === 'fulfilled' ? amqp.value : undefined;
  const describe: Record<string, string> = {};
  const redisName = opts.redisUrl ? maskUrl(opts.redisUrl) : 'embedded';
  const mysqlName = !mysql
    ? 'embedded'
    : mysql.tablePrefix
      ? `${maskUrl(mysql.url)} (tables ${mysql.tablePrefix}*)`
      : maskUrl(mysql.url);

  let routes: RouteStore;
  const prefix = opts.keyPrefix;
  if (client && mysql) {
    const wt = new WriteThroughRouteStore(
      client,
      new RedisRouteStore(client, { prefix }),
      new MysqlRouteStore(mysql),
      {
        log,
      },
    );
    closers.unshift(() => wt.close());
    await wt.start();
    routes = wt;
    describe.routes = `${redisName} (cache) + ${mysqlName} (source of truth)`;
  } else if (client) {
    routes = new RedisRouteStore(client, { prefix });
    describe.routes = redisName;
  } else if (mysql) {
    routes = new MysqlRouteStore(mysql);
    describe.routes = mysqlName;
  } else {
    routes = new MemoryRouteStore();
    describe.routes = 'embedded';
  }

  const messages: MessageStore = mysql ? new MysqlMessageStore(mysql) : new MemoryMessageStore();
  describe.messages = mysqlName;
  describe.queue = queue ? queue.url : 'embedded';
  const nodes: NodeDirectory = client
    ? new RedisNodeDirectory(client, { prefix })
    : new MemoryNodeDirectory();
  describe.nodes = redisName;

  let closed = false;
  return {
    routes,
    messages,
    queue: queue ?? new MemoryQueue(),
    nodes,
    describe,
    async close() {
      if (closed) return;
      closed = true;
      // Queue first (stop consuming), then the stores the handlers used.
      for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {});
    },
  };
}
