/**
 * Redis connections: standalone or Cluster, chosen by the URL. Every command
 * carries a deadline (ioredis `commandTimeout`), and commands fail at once
 * while the connection is down (no offline queue), so callers can fall back
 * instead of waiting. ioredis keeps reconnecting in the background with a
 * capped backoff.
 *
 * URLs: `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), and a Cluster
 * with `redis+cluster://host1:port1,host2:port2`, `?cluster=1`, or simply
 * several hosts (`redis://h1:7000,h2:7001`). The hosts of a Cluster are only
 * where to start: the client learns every master from the cluster itself.
 * A Cluster has only database 0, so a Cluster URL with `/1` is refused.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { TacoError } from '../../core/errors.js';
import { maskUrl, withDeadline } from '../deadline.js';

export type RedisClient = Redis | Cluster;

export interface RedisTarget {
  cluster: boolean;
  nodes: { host: string; port: number }[];
  username?: string | undefined;
  password?: string | undefined;
  db: number;
  tls: boolean;
}

export interface RedisConnectOptions {
  /** Deadline of every command. */
  commandTimeoutMs?: number;
  /** Deadline of the first connection. */
  connectTimeoutMs?: number;
  log?: (msg: string) => void;
}

const URL_RE = /^(rediss?)(\+cluster)?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)(?:\/(\d+))?\/?(?:\?(.*))?$/i;

export function parseRedisUrl(url: string): RedisTarget {
  const m = URL_RE.exec(url);
  if (!m)
    throw new TacoError('BAD_INPUT', `not a Redis URL: ${maskUrl(url)} (expected redis://host:port[/db])`);
  const [, scheme, clusterScheme, user, pass, hosts, db, query] = m;
  const params = new URLSearchParams(query ?? '');
  const clusterParam = params.get('cluster');
  const nodes = hosts!.split(',').map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h.trim());
    if (!hm) throw new TacoError('BAD_INPUT', `bad host "${h}" in Redis URL ${maskUrl(url)}`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port: hm[2] ? Number(hm[2]) : 6379 };
  });
  const cluster =
    Boolean(clusterScheme) || clusterParam === '1' || clusterParam === 'true' || nodes.length > 1;
  if (cluster && db && Number(db) !== 0)
    throw new TacoError('BAD_INPUT', `Redis URL ${maskUrl(url)}: a Redis Cluster has only database 0`);
  return {
    cluster,
    nodes,
    username: user ? decodeURIComponent(user) : undefined,
    password: pass ? decodeURIComponent(pass) : undefined,
    db: db ? Number(db) : 0,
    tls: scheme!.toLowerCase() === 'rediss',
  };
}

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 2_000);

export function createRedisClient(url: string, opts: RedisConnectOptions = {}): RedisClient {
  const t = parseRedisUrl(url);
  const base: RedisOptions = {
    username: t.username,
    password: t.password,
    tls: t.tls ? {} : undefined,
    commandTimeout: opts.commandTimeoutMs ?? 2_000,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy,
  };
  const log = opts.log ?? (() => {});
  const client: RedisClient = t.cluster
    ? new Cluster(t.nodes, {
        redisOptions: base,
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
      })
    : new Redis({ ...base, host: t.nodes[0]!.host, port: t.nodes[0]!.port, db: t.db });
  // Without a listener ioredis prints every connection error; route them to the log instead.
  client.on('error', (e: Error) => log(`redis ${maskUrl(url)}: ${e.message}`));
  return client;
}

/** Connects within the deadline or fails with ENGINE_UNAVAILABLE naming the URL. */
export async function connectRedis(url: string, opts: RedisConnectOptions = {}): Promise<RedisClient> {
  const client = createRedisClient(url, opts);
  const ms = opts.connectTimeoutMs ?? 5_000;
  try {
    await withDeadline(client.connect(), ms, `connecting to Redis at ${maskUrl(url)}`);
    await client.ping();
    return client;
  } catch (e) {
    client.disconnect();
    throw new TacoError(
      'ENGINE_UNAVAILABLE',
      `cannot reach Redis at ${maskUrl(url)}: ${(e as Error).message}`,
      { engine: 'redis', url: maskUrl(url) },
      { cause: e },
    );
  }
}

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/**
 * The Cluster hash slot of a key (CRC16/XMODEM mod 16384 of the key, or of
 * its hash tag: the text between the first `{` and the next `}`, if not empty).
 */
export function keySlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc % 16384;
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * One key per master of a Cluster, each in a slot that master serves (by the
 * client's current slot map), made of `base` plus a hash tag; for a
 * standalone Redis just `[base]`. Markers kept this way tell, master by master,
 * whether a master lost its data (restarted empty).
 */
export function keyPerMaster(client: RedisClient, base: string): string[] {
  // A base with a hash tag of its own (from the prefix) pins every key to one slot: one key suffices.
  if (!isCluster(client) || keySlot(`${base}:{a}`) === keySlot(`${base}:{b}`)) return [base];
  const owners = new Set<string>();
  for (const s of client.slots) if (s?.[0]) owners.add(s[0]);
  const out = new Map<string, string>();
  for (let i = 0; out.size < owners.size && i < 100_000; i++) {
    const k = `${base}:{${i}}`;
    const owner = client.slots[keySlot(k)]?.[0];
    if (owner && !out.has(owner)) out.set(owner, k);
  }
  return out.size ? [...out.values()].sort() : [base];
}

export function isRedisReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

/** Maps a failed Redis command to a TacoError (timeouts → DEADLINE_EXCEEDED, the rest → ENGINE_UNAVAILABLE). */
export function redisError(e: unknown, what: string): TacoError {
  if (e instanceof TacoError) return e;
  const msg = (e as Error)?.message ?? String(e);
  if (/timed? ?out/i.test(msg))
    return new TacoError('DEADLINE_EXCEEDED', `${what}: Redis did not answer in time`, undefined, {
      cause: e,
    });
  return new TacoError('ENGINE_UNAVAILABLE', `${what}: Redis unavailable: ${msg}`, undefined, { cause: e });
}
