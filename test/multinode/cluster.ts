/**
 * Several `taco serve` processes (the built binary, `node bin/run.js serve`)
 * on loopback, sharing the real Redis, MariaDB and RabbitMQ of this machine,
 * each run in a sandbox of its own:
 * - MariaDB: a schema `taco_mn_<tag>` (created, `taco db migrate`d through
 *   the CLI, dropped at the end): a schema of its own keeps the run off other
 *   tests' tables and is dropped whole (TACO_MYSQL_PREFIX would share one).
 * - RabbitMQ: a vhost `taco-mn-<tag>` (rabbitmqctl), deleted at the end, so
 *   `push.shared` and `upstream.*` are this run's alone.
 * - Redis: database 14 (the failover tests use 11–13); every `taco:*` key
 *   there is deleted before and after the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { CoreConfigInput } from '../../src/core/config.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { connectRedis, type RedisClient } from '../../src/engines/redis/client.js';
import { SERVE_NODE_FLAGS } from '../../src/server/node-flags.js';
import { BIN, ROOT, taco } from '../helpers/cli.js';
import { admin } from '../helpers/services.js';

export const REDIS_DB = 14;
const quiet = () => {};

export interface ServiceUrls {
  redis: string;
  mysql: string;
  amqp: string;
}

export interface Sandbox {
  tag: string;
  /** The engine URLs every node of this run gets (TACO_REDIS_URL / TACO_MYSQL_URL / TACO_AMQP_URL). */
  env: { TACO_REDIS_URL: string; TACO_MYSQL_URL: string; TACO_AMQP_URL: string };
  /** A connection to the run's schema, for the test's own bookkeeping queries. */
  db: MysqlDb;
  cleanup(): Promise<void>;
}

const withoutPath = (url: string) => {
  const u = new URL(url);
  u.pathname = '';
  return u.toString().replace(/\/$/, '');
};

async function deleteKeys(c: RedisClient, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length) await c.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

async function retry<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** Creates the run's schema (migrated with `taco db migrate`), vhost and clean Redis database. */
export async function openSandbox(urls: ServiceUrls): Promise<Sandbox> {
  const tag = randomBytes(3).toString('hex');
  const schema = `taco_mn_${tag}`;
  const vhost = `taco-mn-${tag}`;
  const mysqlUrl = urls.mysql.replace(/\/[^/?]*(\?.*)?$/, `/${schema}$1`);
  const amqpUrl = `${withoutPath(urls.amqp)}/${encodeURIComponent(vhost)}`;
  const redisUrl = `${withoutPath(urls.redis)}/${REDIS_DB}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    cleanups.length = 0;
  };
  try {
    // The three services are set up side by side (rabbitmqctl and the CLI each take seconds).
    const mysqlReady = (async () => {
      const root = await MysqlDb.connect(urls.mysql, { log: quiet });
      cleanups.push(() => root.close());
      await root.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      cleanups.push(() => root.query(`DROP DATABASE IF EXISTS \`${schema}\``));
      // The schema as an operator creates it: through the CLI.
      const m = await taco(['db', 'migrate', '--mysql-url', mysqlUrl, '--json'], { timeoutMs: 60_000 });
      if (m.code !== 0) throw new Error(`taco db migrate failed (${m.code}): ${m.stderr}${m.stdout}`);
    })();
    const amqpReady = (async () => {
      // Another test may be restarting the broker: wait for it rather than fail.
      await retry(() => admin('rabbitmqctl', ['add_vhost', vhost]), 30_000);
      cleanups.push(() => admin('rabbitmqctl', ['delete_vhost', vhost]));
      await admin('rabbitmqctl', ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    })();
    const redisReady = (async () => {
      const redis = await connectRedis(redisUrl, { log: quiet });
      cleanups.push(async () => {
        await deleteKeys(redis, 'taco:*');
        redis.disconnect();
      });
      await deleteKeys(redis, 'taco:*');
    })();
    const settled = await Promise.allSettled([mysqlReady, amqpReady, redisReady]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;

    const db = await MysqlDb.connect(mysqlUrl, { log: quiet });
    cleanups.push(() => db.close());
    return {
      tag,
      env: { TACO_REDIS_URL: redisUrl, TACO_MYSQL_URL: mysqlUrl, TACO_AMQP_URL: amqpUrl },
      db,
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export interface NodeProcess {
  id: number;
  child: ChildProcess;
  ws: string;
  http: string;
  /** The node's stderr (logs), last 64 KiB: printed when something goes wrong. */
  log(): string;
  alive: boolean;
  exited: Promise<number | null>;
}

/** Writes a taco.yaml with these core settings; returns its path and a remover. */
export function writeConfig(core: CoreConfigInput): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'taco-mn-'));
  const path = join(dir, 'taco.yaml');
  writeFileSync(path, stringify({ core }));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Spawns `taco serve --node ID` on port 0 and waits for its `ready` line. */
export function spawnNode(
  id: number,
  opts: {
    sandbox: Sandbox;
    config: string;
    app: { id: string; secret: string };
    readyMs?: number;
    /** Extra node options, e.g. `--cpu-prof` (TACO_MN_NODE_ARGS in the test). */
    nodeArgs?: string[];
    /** `taco serve --log-level` (default warn); logs are kept for diagnostics, see NodeProcess.log. */
    logLevel?: 'debug' | 'info' | 'warn' | 'error';
  },
): Promise<NodeProcess> {
  // Only this run's engine URLs: no TACO_* setting of the caller's shell leaks into the nodes.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TACO_') && v !== undefined) env[k] = v;
  Object.assign(env, opts.sandbox.env, { FORCE_COLOR: '0' });
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      // serve's node flags given here: it runs in this pid, not relaunched (the tests SIGKILL it).
      ...SERVE_NODE_FLAGS,
      // TACO_MN_BIN: another build of the binary (e.g. an instrumented copy of dist/ for a diagnosis).
      process.env.TACO_MN_BIN ?? BIN,
      'serve',
      '--node',
      String(id),
      '--config',
      opts.config,
      '--app',
      `${opts.app.id}=${opts.app.secret}`,
      '--ws-port',
      '0',
      '--http-port',
      '0',
      '--grpc-port',
      '0',
      '--host',
      '127.0.0.1',
      '--log-level',
      opts.logLevel ?? 'warn',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-65_536);
  });
  // Never outlive the test process, even if it dies before its after() hook.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      process.off('exit', reap);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${id}: no ready line within ${opts.readyMs ?? 30_000} ms\n${stderr}`));
    }, opts.readyMs ?? 30_000);
    const onData = (d: Buffer) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        let ready: { event?: string; ws: number; http: number };
        try {
          ready = JSON.parse(line);
        } catch {
          continue;
        }
        if (ready.event !== 'ready') continue;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        const node: NodeProcess = {
          id,
          child,
          ws: `ws://127.0.0.1:${ready.ws}/v1/connect`,
          http: `http://127.0.0.1:${ready.http}`,
          log: () => stderr,
          alive: true,
          exited,
        };
        void exited.then(() => {
          node.alive = false;
        });
        resolve(node);
        return;
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${id} exited (${code}) before it was ready\n${stderr}`));
    });
  });
}

/** SIGTERM (graceful stop), then SIGKILL if it has not exited within `graceMs`. */
export async function stopNode(n: NodeProcess, graceMs = 10_000): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return;
  n.child.kill('SIGTERM');
  const timer = setTimeout(() => n.child.kill('SIGKILL'), graceMs);
  await n.exited;
  clearTimeout(timer);
}
