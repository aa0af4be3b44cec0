/**
 * Routes on Redis alone: one hash per device, one set of devices per user and
 * per app. The last-writer-wins compare-and-set and the session-checked
 * remove are Lua scripts on the single route key, so they are atomic and
 * Cluster-safe (no multi-key script). Membership sets only grow, like the
 * embedded twin's, and are added to after the route applied.
 *
 * On a Cluster every command and script touches one key, so keys need no hash
 * tag and spread over every master; ids are URI-encoded, so a `{…}` in an id
 * cannot become a tag (test/engines/redis-cluster.test.ts runs the contract
 * on a real 3-master cluster).
 *
 * Keys (`prefix` defaults to `taco:`; ids are URI-encoded so `:` cannot collide):
 *   {prefix}r:{app}:{device}  hash  app device user? loc? node ezone session updatedAt
 *   {prefix}u:{app}:{user}    set   devices of the user
 *   {prefix}a:{app}           set   devices of the app
 */
import type { Route, RouteStore } from '../../core/ports.js';
import { type RedisClient, redisError } from './client.js';

/** Byte-wise string order, the same as the JS twin's for ASCII ezone names (Lua's `<` follows the locale). */
const LUA_GT = `
local function gt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end`;

/** KEYS[1] route; ARGV[1] updatedAt, ARGV[2] ezone, ARGV[3..] field/value pairs. Returns 1 if applied. */
const PUT_IF_NEWER = `${LUA_GT}
local cur = redis.call('HMGET', KEYS[1], 'updatedAt', 'ezone')
if cur[1] then
  local cu, nu = tonumber(cur[1]), tonumber(ARGV[1])
  if nu < cu then return 0 end
  if nu == cu and not gt(ARGV[2], cur[2] or '') then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1`;

/** KEYS[1] route; ARGV[1] session. Deletes only the given session's route. */
const REMOVE_IF_SESSION = `
if redis.call('HGET', KEYS[1], 'session') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

/** KEYS[1] route; ARGV[1] updatedAt, ARGV[2] session. Deletes only that exact version (resync after an outage). */
const REMOVE_IF_VERSION = `
local cur = redis.call('HMGET', KEYS[1], 'updatedAt', 'session')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

type ScriptClient = RedisClient & {
  tacoPutIfNewer(key: string, ...args: (string | number)[]): Promise<number>;
  tacoRemoveIfSession(key: string, session: string): Promise<number>;
  tacoRemoveIfVersion(key: string, updatedAt: string, session: string): Promise<number>;
};

function withScripts(client: RedisClient): ScriptClient {
  const c = client as ScriptClient;
  if (typeof c.tacoPutIfNewer !== 'function') {
    client.defineCommand('tacoPutIfNewer', { numberOfKeys: 1, lua: PUT_IF_NEWER });
    client.defineCommand('tacoRemoveIfSession', { numberOfKeys: 1, lua: REMOVE_IF_SESSION });
    client.defineCommand('tacoRemoveIfVersion', { numberOfKeys: 1, lua: REMOVE_IF_VERSION });
  }
  return c;
}

const enc = encodeURIComponent;

export function routeToFields(r: Route): string[] {
  const f = ['app', r.app, 'device', r.device, 'node', String(r.node), 'ezone', r.ezone];
  f.push('session', r.session, 'updatedAt', String(r.updatedAt));
  if (r.user !== undefined) f.push('user', r.user);
  if (r.loc !== undefined) f.push('loc', r.loc);
  return f;
}

export function routeFromHash(h: Record<string, string>): Route | undefined {
  if (!h.app || h.device === undefined || h.session === undefined) return undefined;
  const r: Route = {
    app: h.app,
    device: h.device,
    node: Number(h.node),
    ezone: h.ezone ?? '',
    session: h.session,
    updatedAt: Number(h.updatedAt),
  };
  if (h.user !== undefined) r.user = h.user;
  if (h.loc !== undefined) r.loc = h.loc;
  return r;
}

export interface RedisRouteStoreOptions {
  /** Key prefix; tests use a unique one per run. */
  prefix?: string;
  /** Devices fetched per SSCAN step of `devicesOfApp`. */
  scanCount?: number;
}

export class RedisRouteStore implements RouteStore {
  readonly prefix: string;
  private readonly redis: ScriptClient;
  private readonly scanCount: number;

  constructor(client: RedisClient, opts: RedisRouteStoreOptions = {}) {
    this.redis = withScripts(client);
    this.prefix = opts.prefix ?? 'taco:';
    this.scanCount = opts.scanCount ?? 1000;
  }

  routeKey(app: string, device: string): string {
    return `${this.prefix}r:${enc(app)}:${enc(device)}`;
  }
  private userKey(app: string, user: string): string {
    return `${this.prefix}u:${enc(app)}:${enc(user)}`;
  }
  private appKey(app: string): string {
    return `${this.prefix}a:${enc(app)}`;
  }

  async put(route: Route): Promise<void> {
    await this.putIfNewer(route);
  }

  /** Returns whether the route applied (it was newer than the stored one, or there was none). */
  async putIfNewer(route: Route): Promise<boolean> {
    try {
      const applied = await this.redis.tacoPutIfNewer(
        this.routeKey(route.app, route.device),
        String(route.updatedAt),
        route.ezone,
        ...routeToFields(route),
      );
      if (applied !== 1) return false;
      await this.addMembership(route.app, route.device, route.user);
      return true;
    } catch (e) {
      throw redisError(e, `route put ${route.app}/${route.device}`);
    }
  }

  /** Adds a device to its app's (and user's) set; sets only grow. */
  async addMembership(app: string, device: string, user: string | undefined): Promise<void> {
    try {
      const ops: Promise<unknown>[] = [this.redis.sadd(this.appKey(app), device)];
      if (user !== undefined) ops.push(this.redis.sadd(this.userKey(app, user), device));
      await Promise.all(ops);
    } catch (e) {
      throw redisError(e, `route membership ${app}/${device}`);
    }
  }

  async remove(app: string, device: string, session: string): Promise<void> {
    try {
      await this.redis.tacoRemoveIfSession(this.routeKey(app, device), session);
    } catch (e) {
      throw redisError(e, `route remove ${app}/${device}`);
    }
  }

  /** Deletes the route only if it is still exactly this version (used to repair after an outage). */
  async removeIfVersion(route: Route): Promise<boolean> {
    try {
      const n = await this.redis.tacoRemoveIfVersion(
        this.routeKey(route.app, route.device),
        String(route.updatedAt),
        route.session,
      );
      return n === 1;
    } catch (e) {
      throw redisError(e, `route repair ${route.app}/${route.device}`);
    }
  }

  async get(app: string, device: string): Promise<Route | undefined> {
    try {
      return routeFromHash(await this.redis.hgetall(this.routeKey(app, device)));
    } catch (e) {
      throw redisError(e, `route get ${app}/${device}`);
    }
  }

  async devicesOfUser(app: string, user: string): Promise<string[]> {
    try {
      return await this.redis.smembers(this.userKey(app, user));
    } catch (e) {
      throw redisError(e, `devices of user ${app}/${user}`);
    }
  }

  async devicesOfApp(app: string): Promise<string[]> {
    const key = this.appKey(app);
    const out: string[] = [];
    let cursor = '0';
    try {
      do {
        const [next, members] = await this.redis.sscan(key, cursor, 'COUNT', this.scanCount);
        for (const m of members) out.push(m);
        cursor = next;
      } while (cursor !== '0');
    } catch (e) {
      throw redisError(e, `devices of app ${app}`);
    }
    return [...new Set(out)];
  }
}
