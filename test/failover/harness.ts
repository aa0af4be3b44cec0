/**
 * Two ezones (sh, bj) on loopback, one `taco serve` node each, in process:
 * - `embedded`: each ezone its own in-process stores and queue; the ezone
 *   links and the shard map shared in process.
 * - `services`: each ezone its own Redis database, MySQL schema and RabbitMQ
 *   vhost; the shard map in a MySQL schema of its own and the node directory
 *   in a Redis database of its own, both shared by the ezones (GZS).
 * Plus a push generator, and readers of every ezone's message and route stores.
 */
import { randomBytes } from 'node:crypto';
import type { CoreConfigInput } from '../../src/core/config.js';
import { decodeMsgId } from '../../src/core/msgid.js';
import type { MessageRecord, NodeDirectory, Queue, Route, ShardMapStore } from '../../src/core/ports.js';
import { AmqpQueue } from '../../src/engines/amqp/queue.js';
import { MemoryNodeDirectory } from '../../src/engines/embedded/node-directory.js';
import { MemoryQueue } from '../../src/engines/embedded/queue.js';
import { MemoryShardMapStore } from '../../src/engines/embedded/shard-map-store.js';
import { MysqlDb } from '../../src/engines/mysql/db.js';
import { MysqlShardMapStore } from '../../src/engines/mysql/shard-map-store.js';
import { connectRedis, type RedisClient } from '../../src/engines/redis/client.js';
import { RedisNodeDirectory } from '../../src/engines/redis/node-directory.js';
import { type Engines, selectEngines } from '../../src/engines/select.js';
import type { MultiDcOptions } from '../../src/failover/node-wiring.js';
import { parsePromText } from '../../src/failover/prom-text.js';
import { resolveServeConfig } from '../../src/server/config-file.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import { admin } from '../helpers/services.js';
import { DRILL_APP } from './fleet.js';

export const EZONES = ['sh', 'bj'] as const;
export type EzoneName = (typeof EZONES)[number];

export interface EzoneNode {
  ezone: EzoneName;
  server: RunningServer;
  engines: Engines;
  http: string;
  ws: string;
}

export interface TwoEzones {
  sh: EzoneNode;
  bj: EzoneNode;
  nodes: EzoneNode[];
  shardMaps: ShardMapStore;
  stop(): Promise<void>;
}

const quiet = () => {};

/**
 * Settings that make drills quick and show the protections at test size: short ACK timeout and
 * retries; a bounded drain; admission control tight enough that a region's reconnections exceed it.
 */
export const DRILL_CORE: CoreConfigInput = {
  gateway: { heartbeatSec: 30, signInsPerSec: 8, signInBurst: 5, drainPerSec: 50, retryAfterMs: 1_000 },
  dispatch: { ackTimeoutMs: 2_000, retryBaseMs: 300, retryMaxMs: 2_000, rpcDeadlineMs: 2_000 },
};

async function startNode(
  ezone: EzoneName,
  node: number,
  engines: Engines,
  multiDc: MultiDcOptions,
  core: CoreConfigInput,
): Promise<EzoneNode> {
  const config = resolveServeConfig({
    node,
    ezone,
    apps: [DRILL_APP],
    ports: { ws: 0, http: 0, grpc: 0 },
    core,
  });
  const server = await startServer({ config, engines, multiDc, log: quiet });
  return {
    ezone,
    server,
    engines,
    http: `http://127.0.0.1:${server.ready.http}`,
    ws: `ws://127.0.0.1:${server.ready.ws}/v1/connect`,
  };
}

export async function embeddedEzones(core: CoreConfigInput = DRILL_CORE): Promise<TwoEzones> {
  const link = new MemoryQueue();
  const shardMaps = new MemoryShardMapStore();
  const directory = new MemoryNodeDirectory();
  const gatewayDirectory = new MemoryNodeDirectory();
  const httpDirectory = new MemoryNodeDirectory();
  const nodes: EzoneNode[] = [];
  for (const [i, ezone] of EZONES.entries()) {
    const engines = await selectEngines({ ezone });
    const peer = EZONES[1 - i]!;
    nodes.push(
      await startNode(
        ezone,
        i + 1,
        engines,
        {
          shardMaps,
          ezones: [...EZONES],
          directory,
          gatewayDirectory,
          httpDirectory,
          outbound: link,
          peers: new Map<string, Queue>([[peer, link]]),
        },
        core,
      ),
    );
  }
  return {
    sh: nodes[0]!,
    bj: nodes[1]!,
    nodes,
    shardMaps,
    async stop() {
      for (const n of nodes) await n.server.stop();
    },
  };
}

export interface ServiceUrls {
  redis: string;
  mysql: string;
  amqp: string;
}

/** Two ezones on the real services: a Redis database, MySQL schema and RabbitMQ vhost per ezone. */
export async function serviceEzones(
  urls: ServiceUrls,
  core: CoreConfigInput = DRILL_CORE,
): Promise<TwoEzones> {
  const tag = randomBytes(3).toString('hex');
  const withoutPath = (url: string) => {
    const u = new URL(url);
    u.pathname = '';
    return u.toString().replace(/\/$/, '');
  };
  const redisBase = withoutPath(urls.redis);
  const amqpBase = withoutPath(urls.amqp);
  const mysqlRoot = await MysqlDb.connect(urls.mysql, { log: quiet });
  const schemas = { sh: `taco_t_sh_${tag}`, bj: `taco_t_bj_${tag}`, gzs: `taco_t_gzs_${tag}` };
  const vhosts = { sh: `taco-t-sh-${tag}`, bj: `taco-t-bj-${tag}` };
  const redisDb = { sh: 11, bj: 12, directory: 13 };
  const cleanups: (() => Promise<unknown>)[] = [];
  const mysqlUrl = (schema: string) => urls.mysql.replace(/\/[^/?]*(\?.*)?$/, `/${schema}$1`);
  const amqpUrl = (vhost: string) => `${amqpBase}/${encodeURIComponent(vhost)}`;
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    for (const s of Object.values(schemas)) {
      await mysqlRoot.query(`CREATE DATABASE IF NOT EXISTS \`${s}\``);
      cleanups.push(() => mysqlRoot.query(`DROP DATABASE IF EXISTS \`${s}\``));
    }
    cleanups.unshift(() => mysqlRoot.close());
    for (const v of Object.values(vhosts)) {
      // Another test may be restarting the broker: wait for it rather than fail.
      await retry(() => admin('rabbitmqctl', ['add_vhost', v]), 30_000);
      cleanups.push(() => admin('rabbitmqctl', ['delete_vhost', v]));
      await admin('rabbitmqctl', ['set_permissions', '-p', v, 'guest', '.*', '.*', '.*']);
    }
    const keyPrefix = `taco_t_${tag}:`;
    // The shard map (GZS) and the node directory are shared by both ezones.
    const gzsDb = await MysqlDb.connect(mysqlUrl(schemas.gzs), { log: quiet });
    cleanups.push(() => gzsDb.close());
    const shardMaps = new MysqlShardMapStore(gzsDb);
    cleanups.push(async () => shardMaps.close());
    await shardMaps.ensureTable();
    const dirRedis = await connectRedis(`${redisBase}/${redisDb.directory}`, { log: quiet });
    cleanups.push(async () => {
      await deletePrefix(dirRedis, keyPrefix);
      dirRedis.disconnect();
    });
    const directory: NodeDirectory = new RedisNodeDirectory(dirRedis, { prefix: keyPrefix });
    const gatewayDirectory = new RedisNodeDirectory(dirRedis, { prefix: `${keyPrefix}gw:` });
    const httpDirectory = new RedisNodeDirectory(dirRedis, { prefix: `${keyPrefix}http:` });

    const nodes: EzoneNode[] = [];
    for (const [i, ezone] of EZONES.entries()) {
      const peer = EZONES[1 - i]!;
      const engines = await selectEngines({
        ezone,
        redisUrl: `${redisBase}/${redisDb[ezone]}`,
        mysqlUrl: mysqlUrl(schemas[ezone]),
        amqpUrl: amqpUrl(vhosts[ezone]),
        keyPrefix,
        migrate: true,
        log: quiet,
      });
      const redisOfEzone = await connectRedis(`${redisBase}/${redisDb[ezone]}`, { log: quiet });
      cleanups.push(async () => {
        await deletePrefix(redisOfEzone, keyPrefix);
        redisOfEzone.disconnect();
      });
      // The link to the peer's broker: what the peer publishes for this ezone is read there.
      const link = await AmqpQueue.connect(amqpUrl(vhosts[peer]), {
        log: quiet,
        connectionName: `test ${ezone} link to ${peer}`,
      });
      nodes.push(
        await startNode(
          ezone,
          i + 1,
          engines,
          {
            shardMaps,
            ezones: [...EZONES],
            directory,
            gatewayDirectory,
            httpDirectory,
            peers: new Map<string, Queue>([[peer, link]]),
            close: () => link.close(),
          },
          core,
        ),
      );
    }
    return {
      sh: nodes[0]!,
      bj: nodes[1]!,
      nodes,
      shardMaps,
      async stop() {
        for (const n of nodes) await n.server.stop().catch(() => {});
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
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

async function deletePrefix(c: RedisClient, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await c.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

// ---------- pushes and what became of them ----------

export interface Sent {
  id: string;
  device: string;
  via: EzoneName;
  at: number;
}

/** Sends `perSec` pushes a second to random devices, through a random ezone's API, until stopped. */
export class Pusher {
  readonly sent: Sent[] = [];
  readonly failures: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight = new Set<Promise<void>>();

  constructor(
    private readonly ez: TwoEzones,
    private readonly devices: () => string[],
    private readonly perSec: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const devs = this.devices();
      const n = Math.max(1, Math.round(this.perSec / 10));
      for (let i = 0; i < n; i++) {
        const device = devs[Math.floor(Math.random() * devs.length)]!;
        const via = EZONES[Math.floor(Math.random() * 2)]!;
        const p = this.send(via, device).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      }
    }, 100);
  }

  private async send(via: EzoneName, device: string): Promise<void> {
    try {
      const res = await fetch(`${this.ez[via].http}/v1/push`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${DRILL_APP.id}:${DRILL_APP.secret}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          to: { devices: [device] },
          kind: 'notification',
          title: 'drill',
          priority: 'normal',
          ttl: 600,
        }),
        // Generous: the machine running the tests may be busy; an accepted push must still be delivered.
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json()) as { ids?: string[]; error?: { message: string } };
      if (res.status !== 202 || !body.ids) {
        this.failures.push(`${via} ${res.status} ${body.error?.message}`);
        return;
      }
      for (const id of body.ids) this.sent.push({ id, device, via, at: Date.now() });
    } catch (e) {
      this.failures.push(`${via}: ${(e as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
  }
}

/** Where each message's record is, and its status there. */
export async function whereIs(
  ez: TwoEzones,
  id: string,
): Promise<{ ezone: EzoneName; rec: MessageRecord }[]> {
  const out: { ezone: EzoneName; rec: MessageRecord }[] = [];
  for (const n of ez.nodes) {
    const rec = await n.engines.messages.get(id);
    if (rec) out.push({ ezone: n.ezone, rec });
  }
  return out;
}

export const shardOfId = (id: string) => decodeMsgId(id).shard;

export async function routesOf(ez: TwoEzones, device: string): Promise<(Route | undefined)[]> {
  return Promise.all(ez.nodes.map((n) => n.engines.routes.get(DRILL_APP.id, device)));
}

/** A counter summed over the nodes' /metrics. */
export async function counterOf(ez: TwoEzones, name: string, ezone?: EzoneName): Promise<number> {
  let total = 0;
  for (const n of ez.nodes) {
    if (ezone && n.ezone !== ezone) continue;
    const text = await (await fetch(`${n.http}/metrics`)).text();
    for (const s of parsePromText(text)) if (s.name === name) total += s.value;
  }
  return total;
}

export async function until<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms: number,
  what: string,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
