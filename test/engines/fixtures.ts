/** Set-up and clean-up of real engines for the engine tests: unique prefixes per run, everything dropped after. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Queue } from '../../src/core/ports.js';
import type { AmqpQueue } from '../../src/engines/amqp/queue.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { migrate } from '../../src/engines/mysql/migrate.js';
import { connectRedis, isCluster, type RedisClient } from '../../src/engines/redis/client.js';
import { probeTcp, runPrefix } from '../helpers/services.js';

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

/** Deletes the prefix's keys: on a Cluster, master by master, one key per DEL (keys of one call must share a slot). */
export async function deleteKeys(client: RedisClient, prefix: string): Promise<void> {
  for (const node of isCluster(client) ? client.nodes('master') : [client]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) {
        const p = node.pipeline();
        for (const k of keys) p.del(k);
        await p.exec();
      }
      cursor = next;
    } while (cursor !== '0');
  }
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

/** A free TCP port on 127.0.0.1 (bound and released; a tiny race we accept in tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A Redis server of our own (a child process on a free port, no persistence),
 * so tests can stop and restart it without touching the shared one.
 */
export async function privateRedis() {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const up = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp'],
      { stdio: 'ignore' },
    );
    const until = Date.now() + 5_000;
    while (!(await probeTcp('127.0.0.1', port, 200))) {
      if (Date.now() > until) throw new Error(`private redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const down = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await up();
  return { port, url: `redis://127.0.0.1:${port}`, start: up, stop: down };
}
