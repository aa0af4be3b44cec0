/**
 * Node directory on Redis: one hash `{prefix}nodes` (one key, so Cluster-safe),
 * field = node id, value = JSON NodeInfo with its expiry. Expiry is judged on
 * the reader's clock, so nodes' clocks should agree to well within the TTL.
 * `list` deletes fields expired for over a minute (garbage of nodes that left;
 * a node re-registering meanwhile would have rewritten its field long before).
 */
import type { NodeDirectory, NodeInfo } from '../../core/ports.js';
import { type RedisClient, redisError } from './client.js';

export interface RedisNodeDirectoryOptions {
  prefix?: string;
  now?: () => number;
}

const GARBAGE_AFTER_MS = 60_000;

function parse(v: string | null | undefined): NodeInfo | undefined {
  if (!v) return undefined;
  try {
    const n = JSON.parse(v) as NodeInfo;
    return typeof n.node === 'number' && typeof n.address === 'string' ? n : undefined;
  } catch {
    return undefined;
  }
}

export class RedisNodeDirectory implements NodeDirectory {
  private readonly key: string;
  private readonly now: () => number;

  constructor(
    private readonly redis: RedisClient,
    opts: RedisNodeDirectoryOptions = {},
  ) {
    this.key = `${opts.prefix ?? 'taco:'}nodes`;
    this.now = opts.now ?? Date.now;
  }

  async register(node: number, ezone: string, address: string, ttlMs: number): Promise<void> {
    const info: NodeInfo = { node, ezone, address, expiresAt: this.now() + ttlMs };
    try {
      await this.redis.hset(this.key, String(node), JSON.stringify(info));
    } catch (e) {
      throw redisError(e, `register node ${node}`);
    }
  }

  async lookup(node: number): Promise<NodeInfo | undefined> {
    try {
      const n = parse(await this.redis.hget(this.key, String(node)));
      return n && n.expiresAt > this.now() ? n : undefined;
    } catch (e) {
      throw redisError(e, `look up node ${node}`);
    }
  }

  async list(ezone?: string): Promise<NodeInfo[]> {
    let all: Record<string, string>;
    try {
      all = await this.redis.hgetall(this.key);
    } catch (e) {
      throw redisError(e, 'list nodes');
    }
    const now = this.now();
    const out: NodeInfo[] = [];
    const expired: string[] = [];
    for (const [field, v] of Object.entries(all)) {
      const n = parse(v);
      if (!n || n.expiresAt <= now - GARBAGE_AFTER_MS) expired.push(field);
      else if (n.expiresAt <= now) continue;
      else if (ezone === undefined || n.ezone === ezone) out.push(n);
    }
    if (expired.length) this.redis.hdel(this.key, ...expired).catch(() => {});
    return out.sort((a, b) => a.node - b.node);
  }
}
