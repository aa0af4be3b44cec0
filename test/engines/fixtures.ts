/** Set-up and clean-up of real engines for the engine tests: unique prefixes per run, everything dropped after. */
import type { Queue } from '../../src/core/ports.js';
import type { AmqpQueue } from '../../src/engines/amqp/queue.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { migrate } from '../../src/engines/mysql/migrate.js';
import { connectRedis, type RedisClient } from '../../src/engines/redis/client.js';
import { runPrefix } from '../helpers/services.js';

export const quiet = (): void => {};

/** A migrated database whose tables all carry a fresh prefix; `drop` removes them. */
export async function freshDb(url: string, tag: string, opts: { statementTimeoutMs?: number } = {}) {
  const db = await MysqlDb.connect(url, { tablePrefix: runPrefix(tag), ...opts });
  await migrate(db);
  return {
    db,
    async drop() {
      await dropTables(db);
      await db.close();
    },
  };
}

export async function dropTables(db: MysqlDb): Promise<void> {
  const rows = await db.query<{ name: string }[]>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = DATABASE() AND table_name LIKE CONCAT(?, '%')`,
    [db.tablePrefix.replace(/_/g, '\\_')],
  );
  for (const r of rows) await db.query(`DROP TABLE IF EXISTS \`${r.name}\``);
}

/** A Redis client plus a fresh key prefix; `drop` deletes the prefix's keys and disconnects. */
export async function freshRedis(url: string, tag: string) {
  const client = await connectRedis(url, { log: quiet });
  const prefix = `${runPrefix(tag)}:`;
  return {
    client,
    prefix,
    async drop() {
      await deleteKeys(client, prefix);
      client.disconnect();
    },
  };
}

export async function deleteKeys(client: RedisClient, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Wraps a queue so every queue name used goes into `names` (to delete them after the run). */
export function recordingQueue(q: Queue, names: Set<string>): Queue {
  return {
    publish: (name, body, opts) => {
      names.add(name);
      return q.publish(name, body, opts);
    },
    consume: (name, handler, opts) => {
      names.add(name);
      return q.consume(name, handler, opts);
    },
    stats: (name) => {
      names.add(name);
      return q.stats(name);
    },
  };
}

export async function deleteQueues(q: AmqpQueue, names: Iterable<string>): Promise<void> {
  for (const n of names) await q.deleteQueue(n).catch(() => {});
}
