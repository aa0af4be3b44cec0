// Issue 4's multi-node acceptance test: 3 `taco serve` processes on loopback share the real Redis,
// MariaDB and RabbitMQ; a few hundred SDK clients spread over them ACK every push; thousands of pushes
// (10,000 in the issue, see below) go through the HTTP API of random nodes, with an idempotency key
// each, retried on another node when one fails; mid-stream one node is killed with SIGKILL and its clients
// reconnect to the others. At the end every message is `delivered` or `expired` (none lost), the app
// of every device was shown each message at most once, and each delivery was recorded once.
// Skipped when a service (or rabbitmqctl) is missing, unless TACO_REQUIRE_SERVICES=1.
//
// The issue asks for 10,000 pushes; by default this runs 5,000 so the file stays under ~90 s on a
// 2-core machine: the run is CPU-bound (~20 ms of CPU per push over the 3 nodes, MariaDB, RabbitMQ
// and this process). Measured here: 5,000 pushes → 64 s for the file (~100 pushes/s); 10,000 → 107 s
// when the machine is otherwise idle, 2.5–5 minutes next to other work. The full count:
// TACO_MN_PUSHES=10000. Figures are printed as one `multinode figures: {...}` line.
// TACO_MN_DEVICES sets the device count; TACO_MN_LOG_LEVEL the nodes' log level (their logs are
// printed when a message is not delivered); TACO_MN_NODE_ARGS passes node options to the servers
// (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`); TACO_MN_BIN runs another build of bin/run.js.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { TacoClient, type TacoClientOptions } from '../../src/client/client.js';
import { decodeMsgId } from '../../src/core/msgid.js';
import type { PushFrame } from '../../src/core/protocol.js';
import { signToken } from '../../src/core/token.js';
import { parsePromText } from '../../src/failover/prom-text.js';
import { hasCommand, service, servicesRequired } from '../helpers/services.js';
import { type NodeProcess, openSandbox, type Sandbox, spawnNode, stopNode, writeConfig } from './cluster.js';

const APP = { id: 'shop', secret: 'shop-secret-123' };
const PUSHES = Number(process.env.TACO_MN_PUSHES ?? 5_000);
const DEVICES = Number(process.env.TACO_MN_DEVICES ?? 300);
/** Pushes accepted before the SIGKILL: mid-stream. */
const KILL_AT = Math.floor(PUSHES * 0.35);
/** HTTP requests in flight at once. */
const CONCURRENCY = 32;
/** Short enough to bound the test: whatever cannot be delivered is `expired` this long after its push. */
const TTL_SEC = 30;
const NODE_IDS = [1, 2, 3];
const VICTIM = 2;

const [redis, mysql, amqp] = await Promise.all([service('redis'), service('mysql'), service('amqp')]);
const ctl = await hasCommand('rabbitmqctl');
if (!ctl && servicesRequired()) throw new Error('rabbitmqctl is required to create the run’s vhost');
const skip = redis.skip || mysql.skip || amqp.skip || (ctl ? false : 'rabbitmqctl is not installed');

const auth = `Basic ${Buffer.from(`${APP.id}:${APP.secret}`).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One simulated device: the SDK, plus what came over the wire and what the app was shown. */
interface Device {
  id: string;
  client: TacoClient;
  /** push frames per message id, as they came over the socket (duplicates allowed by the protocol). */
  wire: Map<string, number>;
  /** message id → times the SDK handed it to the app (must be 1). */
  shown: Map<string, number>;
  /** node id of each welcome. */
  welcomes: number[];
  open: boolean;
}

/** Retries of push requests, and why. */
interface PushStats {
  retries: number;
  errors: Map<string, number>;
}

/** What happened to one push request. */
interface Sent {
  id: string;
  device: string;
}

describe('3 taco serve nodes on the real engines, one SIGKILLed mid-stream', { skip }, () => {
  let sandbox: Sandbox;
  let config: { path: string; remove(): void };
  const nodes: NodeProcess[] = [];
  const devices: Device[] = [];
  const killed = new Set<number>();
  let setupMs = 0;

  const liveNodes = () => nodes.filter((n) => !killed.has(n.id) && n.alive);
  const pick = <T>(a: T[]): T => a[Math.floor(Math.random() * a.length)]!;

  before(async () => {
    const t0 = Date.now();
    sandbox = await openSandbox({ redis: redis.url!, mysql: mysql.url!, amqp: amqp.url! });
    config = writeConfig({
      gateway: { heartbeatSec: 20, reconnect: { baseMs: 200, maxMs: 2_000, jitter: 'full' } },
      dispatch: {
        ackTimeoutMs: 3_000,
        retryBaseMs: 300,
        retryMaxMs: 2_000,
        rpcDeadlineMs: 2_000,
        expirySweepMs: 500,
        consumers: { min: 16, max: 64, scaleIntervalMs: 1_000 },
      },
    });
    const nodeArgs = process.env.TACO_MN_NODE_ARGS?.split(' ').filter(Boolean);
    const started = await Promise.allSettled(
      NODE_IDS.map((id) =>
        spawnNode(id, {
          sandbox,
          config: config.path,
          app: APP,
          readyMs: 60_000,
          nodeArgs,
          logLevel: process.env.TACO_MN_LOG_LEVEL as 'info' | undefined,
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    setupMs = Date.now() - t0;
  });

  after(async () => {
    for (const d of devices) d.client.close();
    await Promise.all(nodes.map((n) => stopNode(n)));
    config?.remove();
    await sandbox?.cleanup();
  });

  function startDevice(i: number): Device {
    const id = `mn-dev-${i}`;
    const home = nodes[i % nodes.length]!;
    const dev: Device = {
      id,
      client: undefined as never,
      wire: new Map(),
      shown: new Map(),
      welcomes: [],
      open: false,
    };
    // Counts push frames on the wire, beside the SDK's own handler.
    class CountingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        this.on('message', (data) => {
          const f = JSON.parse(String(data)) as { op: string; id?: string; node?: number };
          if (f.op === 'push' && f.id) dev.wire.set(f.id, (dev.wire.get(f.id) ?? 0) + 1);
          if (f.op === 'welcome' && f.node !== undefined) dev.welcomes.push(f.node);
        });
      }
    }
    const opts: TacoClientOptions = {
      // The SDK reads its URL at every attempt: its home node while it lives, else a surviving one.
      get url() {
        return killed.has(home.id) ? pick(liveNodes()).ws : home.ws;
      },
      token: () => signToken({ app: APP.id, dev: id, exp: Math.floor(Date.now() / 1000) + 3600 }, APP.secret),
      platform: 'android',
      appState: 'foreground',
      WebSocket: CountingWebSocket,
      reconnect: { baseMs: 200, maxMs: 2_000 },
      dedupWindow: 4096,
    };
    const client = new TacoClient(opts);
    const show = (f: PushFrame) => dev.shown.set(f.id, (dev.shown.get(f.id) ?? 0) + 1);
    client.on('message', show);
    client.on('notification', show);
    client.on('state', (s) => {
      dev.open = s.state === 'open';
    });
    client.on('error', () => {});
    dev.client = client;
    client.connect();
    return dev;
  }

  async function push(i: number, device: string, stats: PushStats): Promise<string[]> {
    const body = JSON.stringify({
      to: { devices: [device] },
      kind: 'passthrough',
      data: { n: i },
      priority: 'normal',
      ttl: TTL_SEC,
      // A retry on another node after a failure (the node was killed under the request) must not
      // create a second message: the idempotency key gives back the first one's ids.
      idempotencyKey: `mn-${sandbox.tag}-${i}`,
    });
    for (let attempt = 0; ; attempt++) {
      const node = pick(liveNodes());
      try {
        const res = await fetch(`${node.http}/v1/push`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        const j = (await res.json()) as { ids?: string[]; error?: { code: string; message: string } };
        if (res.status === 202 && j.ids) return j.ids;
        stats.errors.set(
          `HTTP ${res.status} ${j.error?.code}`,
          (stats.errors.get(`HTTP ${res.status} ${j.error?.code}`) ?? 0) + 1,
        );
        if (res.status !== 503 && res.status !== 429)
          throw new Error(`push ${i}: HTTP ${res.status} ${JSON.stringify(j)}`);
      } catch (e) {
        if ((e as Error).message.startsWith(`push ${i}:`)) throw e;
        const k = `${node.id === VICTIM ? 'victim' : 'survivor'}: ${(e as Error).name} ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`;
        stats.errors.set(k, (stats.errors.get(k) ?? 0) + 1);
      }
      stats.retries++;
      if (attempt >= 20) throw new Error(`push ${i}: no node accepted it after ${attempt + 1} attempts`);
      await sleep(100 + Math.random() * 200);
    }
  }

  test(`${PUSHES} pushes to ${DEVICES} devices over 3 nodes, SIGKILL one mid-stream: none lost, none shown twice`, {
    timeout: 120_000 + PUSHES * 40,
  }, async () => {
    const t0 = Date.now();
    for (let i = 0; i < DEVICES; i++) devices.push(startDevice(i));
    await waitUntil(() => devices.every((d) => d.open), 20_000, 'every device signed in');
    const tConnected = Date.now();

    // ---- the pushes, through random nodes; SIGKILL one node mid-stream ----
    const sent: Sent[] = [];
    const stats: PushStats = { retries: 0, errors: new Map() };
    let next = 0;
    let accepted = 0;
    let killAt = 0;
    let victimDevices: Device[] = [];
    let reconnected: Promise<number | Error> | undefined;
    const victim = nodes.find((n) => n.id === VICTIM)!;
    let victimCounters: Record<string, number> = {};
    const kill = async () => {
      // The victim's counters up to now, for the figures (its /metrics dies with it).
      victimCounters = await counters([victim]).catch(() => ({}));
      killAt = Date.now();
      victimDevices = devices.filter((d) => d.welcomes.at(-1) === VICTIM);
      killed.add(VICTIM);
      victim.child.kill('SIGKILL');
      // Its clients reconnect to the survivors (watched while the pushes go on).
      reconnected = waitUntil(
        () => victimDevices.every((d) => d.open && d.welcomes.at(-1) !== VICTIM),
        30_000,
        'the victim’s devices signed in on a surviving node',
      ).then(
        () => Date.now(),
        (e: Error) => e,
      );
    };
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= PUSHES) return;
        const device = pick(devices).id;
        const ids = await push(i, device, stats);
        for (const id of ids) sent.push({ id, device });
        if (++accepted === KILL_AT) await kill();
      }
    };
    const progress = setInterval(() => {
      const open = devices.filter((d) => d.open).length;
      console.log(
        `progress +${Date.now() - t0} ms: next=${next} accepted=${accepted} retries=${stats.retries} open=${open}`,
      );
    }, 5_000);
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally {
      clearInterval(progress);
    }
    const tPushed = Date.now();
    assert.ok(killAt > 0, 'the victim was killed mid-stream');
    await victim.exited;

    const tReconnected = await reconnected!;
    if (tReconnected instanceof Error) throw tReconnected;

    // ---- bounded wait: nothing left pending (every message delivered or past its TTL) ----
    const ids = new Set(sent.map((s) => s.id));
    assert.equal(ids.size, sent.length, 'every push got ids of its own (idempotency keys held)');
    const pendingCount = async () => {
      const rows = await sandbox.db.query<{ n: number }[]>(
        'SELECT COUNT(*) AS n FROM messages WHERE pending = 1',
      );
      return Number(rows[0]!.n);
    };
    await waitUntil(
      async () => (await pendingCount()) === 0,
      (TTL_SEC + 20) * 1000,
      'no message left pending',
    );
    const tSettled = Date.now();

    // ---- every message's status, over the HTTP API of surviving nodes ----
    const statuses = new Map<string, number>();
    const notFound: string[] = [];
    const badHistory: string[] = [];
    let resent = 0;
    const records = new Map<string, { status: string; history: { status: string; at: number }[] }>();
    let k = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (;;) {
          const s = sent[k++];
          if (!s) return;
          const res = await fetch(`${pick(liveNodes()).http}/v1/messages/${s.id}`, {
            headers: { authorization: auth },
            signal: AbortSignal.timeout(10_000),
          });
          if (res.status === 404) {
            notFound.push(s.id);
            continue;
          }
          assert.equal(res.status, 200, `GET /v1/messages/${s.id}`);
          const rec = (await res.json()) as { status: string; history: { status: string; at: number }[] };
          records.set(s.id, rec);
          statuses.set(rec.status, (statuses.get(rec.status) ?? 0) + 1);
          const deliveredEntries = rec.history.filter((h) => h.status === 'delivered').length;
          if (rec.status === 'delivered' ? deliveredEntries !== 1 : deliveredEntries !== 0)
            badHistory.push(s.id);
          resent += Math.max(0, rec.history.filter((h) => h.status === 'sent').length - 1);
        }
      }),
    );
    const tChecked = Date.now();

    // ---- what the apps were shown ----
    const byId = new Map(sent.map((s) => [s.id, s.device]));
    let shownTwice = 0;
    let wireDuplicates = 0;
    let wireDuplicatesOnVictimDevices = 0;
    let misdelivered = 0;
    const shownIds = new Set<string>();
    for (const d of devices) {
      for (const [id, n] of d.shown) {
        if (n > 1) shownTwice++;
        if (byId.get(id) !== d.id) misdelivered++;
        shownIds.add(id);
      }
      for (const n of d.wire.values()) if (n > 1) wireDuplicates += n - 1;
      if (victimDevices.includes(d))
        for (const n of d.wire.values()) if (n > 1) wireDuplicatesOnVictimDevices += n - 1;
    }
    const deliveredNotShown = [...records].filter(([id, r]) => r.status === 'delivered' && !shownIds.has(id));
    const shownNotDelivered = [...records].filter(([id, r]) => r.status !== 'delivered' && shownIds.has(id));

    const figures = {
      setupMs,
      pushes: PUSHES,
      messages: sent.length,
      devices: DEVICES,
      killedAfterAccepted: KILL_AT,
      victimDevices: victimDevices.length,
      connectMs: tConnected - t0,
      pushMs: tPushed - tConnected,
      pushesPerSec: Math.round((PUSHES / (tPushed - tConnected)) * 1000),
      reconnectMs: tReconnected - killAt,
      settleAfterLastPushMs: tSettled - tPushed,
      checkMs: tChecked - tSettled,
      totalMs: tChecked - t0,
      pushRetries: stats.retries,
      pushErrors: Object.fromEntries(stats.errors),
      statuses: Object.fromEntries(statuses),
      notFound: notFound.length,
      shownTwice,
      wireDuplicates,
      wireDuplicatesOnVictimDevices,
      resentAfterSent: resent,
      misdelivered,
      deliveredNotShown: deliveredNotShown.length,
      shownNotDelivered: shownNotDelivered.length,
      survivorCounters: await counters(liveNodes()),
      victimCountersBeforeKill: victimCounters,
    };
    if (notFound.length) {
      const keys = await sandbox.db.query<{ ids: string }[]>('SELECT ids FROM idempotency_keys');
      const keyed = new Set(keys.flatMap((r) => JSON.parse(r.ids) as string[]));
      console.log(
        `not found: ${JSON.stringify(notFound.map((id) => ({ id, node: decodeMsgId(id).node, keyStored: keyed.has(id) })))}`,
      );
    }
    // The story of every message that did not end `delivered` (at most 20), to tell why.
    const devOf = new Map(devices.map((d) => [d.id, d]));
    const undelivered = [...records].filter(([, r]) => r.status !== 'delivered').slice(0, 20);
    for (const [id, r] of undelivered) {
      const d = devOf.get(byId.get(id)!)!;
      const created = decodeMsgId(id).timeMs;
      console.log(
        `not delivered: ${JSON.stringify({
          id,
          mintedBy: decodeMsgId(id).node,
          device: d.id,
          deviceOnVictim: victimDevices.includes(d),
          welcomes: d.welcomes,
          killedAtMs: killAt - created,
          history: r.history.map((h) => `${h.status}@${h.at - created}`),
          wire: d.wire.get(id) ?? 0,
          shown: d.shown.get(id) ?? 0,
          route: (
            await sandbox.db.query<unknown[]>('SELECT * FROM routes WHERE app = ? AND device = ?', [
              APP.id,
              d.id,
            ])
          )[0],
        })}`,
      );
    }
    if (undelivered.length)
      for (const n of nodes) console.log(`node ${n.id} log (tail):\n${n.log().slice(-8_000)}`);
    console.log(`multinode figures: ${JSON.stringify(figures)}`);

    assert.deepEqual(notFound, [], 'every accepted message exists (none lost)');
    for (const [status] of statuses)
      assert.ok(
        status === 'delivered' || status === 'expired',
        `status ${status}: ${JSON.stringify(figures.statuses)}`,
      );
    assert.equal(shownTwice, 0, 'no device showed a message twice to the app');
    assert.equal(misdelivered, 0, 'no device was shown a message meant for another');
    assert.deepEqual(badHistory, [], 'a delivered message has exactly one `delivered` in its history');
    // Every device is online (the victim's devices reconnect within seconds) and the TTL is far above the
    // delivery time, so an expired message means one went missing on the way (that is how the
    // half-done idempotent push showed up). A few are tolerated for a badly overloaded machine.
    const expired = statuses.get('expired') ?? 0;
    assert.ok(
      expired <= sent.length * 0.01,
      `${expired} of ${sent.length} messages expired instead of being delivered`,
    );
    assert.equal(deliveredNotShown.length, 0, 'every delivered message reached its app');
  });
});

/** Every `taco_*_total` counter of these nodes' /metrics, summed, without the prefix and suffix. */
async function counters(of: NodeProcess[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of of) {
    const text = await (await fetch(`${n.http}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    for (const m of parsePromText(text))
      if (m.name.startsWith('taco_') && m.name.endsWith('_total'))
        out[m.name.slice(5, -6)] = (out[m.name.slice(5, -6)] ?? 0) + m.value;
  }
  return out;
}

async function waitUntil(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(100);
  }
}
