// Route replication between ezones: the merge is a join (order, duplicates and grouping never matter),
// replicas converge on what the writers meant, nothing is re-published (no loops), and an outage only delays.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Scheduler, TimerHandle } from '../../src/core/clock.js';
import type { ConsumerHandle, Queue, QueueDelivery, QueueStats, Route } from '../../src/core/ports.js';
import {
  EMPTY_KEY_STATE,
  joinKeyState,
  putState,
  type RouteKeyState,
  RouteReplicator,
  removeState,
  replicationQueueOf,
  routeAfter,
  visibleRoute,
} from '../../src/core/replication.js';
import { MemoryQueue } from '../../src/engines/embedded/queue.js';
import { MemoryRouteStore } from '../../src/engines/embedded/route-store.js';
import { VirtualScheduler } from '../../src/sim/virtual-clock.js';

const EZONES = ['bj', 'gz', 'sh'] as const;

// ---------- generators ----------

const putArb = fc
  .record({
    t: fc.integer({ min: 1, max: 20 }),
    ezone: fc.constantFrom(...EZONES),
    session: fc.constantFrom('1.1', '1.2', '2.1', '3.7'),
    node: fc.integer({ min: 1, max: 3 }),
  })
  .map(
    (p): Route => ({
      app: 'a',
      device: 'd',
      node: p.node,
      ezone: p.ezone,
      session: p.session,
      updatedAt: p.t,
    }),
  );

type Write = { put: Route } | { remove: string; at: number };

const writeArb: fc.Arbitrary<Write> = fc.oneof(
  putArb.map((put) => ({ put })),
  fc
    .record({ remove: fc.constantFrom('1.1', '1.2', '2.1', '3.7'), at: fc.integer({ min: 1, max: 20 }) })
    .map((r) => r),
);

const stateOf = (w: Write): RouteKeyState => ('put' in w ? putState(w.put) : removeState(w.remove, w.at));
const fold = (ws: Write[]) => ws.reduce((s, w) => joinKeyState(s, stateOf(w)), EMPTY_KEY_STATE);
const canon = (s: RouteKeyState) => ({ top: s.top, removed: [...s.removed].sort() });

/** What the writers meant: the newest put, unless its session was removed at or after it. */
function oracle(ws: Write[]): Route | undefined {
  let top: Route | undefined;
  for (const w of ws) if ('put' in w && (!top || routeAfter(w.put, top))) top = w.put;
  if (!top) return undefined;
  const killed = ws.some((w) => 'remove' in w && w.remove === top!.session && w.at >= top!.updatedAt);
  return killed ? undefined : top;
}

describe('route merge (pure)', () => {
  test('order independence: any permutation of the writes gives the same state', () => {
    fc.assert(
      fc.property(
        fc
          .array(writeArb, { maxLength: 12 })
          .chain((ws) =>
            fc.tuple(
              fc.constant(ws),
              fc.shuffledSubarray(ws, { minLength: ws.length, maxLength: ws.length }),
            ),
          ),
        ([ws, shuffled]) => {
          assert.deepEqual(canon(fold(shuffled)), canon(fold(ws)));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('idempotence and grouping: duplicates and pre-merged batches change nothing', () => {
    fc.assert(
      fc.property(fc.array(writeArb, { maxLength: 10 }), fc.array(writeArb, { maxLength: 10 }), (a, b) => {
        const sa = fold(a);
        const sb = fold(b);
        assert.deepEqual(canon(joinKeyState(sa, sa)), canon(sa));
        assert.deepEqual(canon(joinKeyState(sa, sb)), canon(fold([...a, ...b])));
        assert.deepEqual(canon(joinKeyState(joinKeyState(sa, sb), sb)), canon(joinKeyState(sa, sb)));
      }),
      { numRuns: 500 },
    );
  });

  test('the visible route is what the writers meant (last writer wins by (timestamp, ezone); removals by session)', () => {
    fc.assert(
      fc.property(fc.array(writeArb, { maxLength: 12 }), (ws) => {
        assert.deepEqual(visibleRoute(fold(ws)), oracle(ws));
      }),
      { numRuns: 500 },
    );
  });

  test('ties: a later timestamp wins, then the larger ezone', () => {
    const r = (t: number, ezone: string, session: string): Route => ({
      app: 'a',
      device: 'd',
      node: 1,
      ezone,
      session,
      updatedAt: t,
    });
    assert.equal(visibleRoute(fold([{ put: r(5, 'bj', 'x') }, { put: r(4, 'sh', 'y') }]))?.session, 'x');
    assert.equal(visibleRoute(fold([{ put: r(5, 'bj', 'x') }, { put: r(5, 'sh', 'y') }]))?.session, 'y');
    // A removal kills only its own session's put, and only one written at or before it.
    assert.equal(visibleRoute(fold([{ put: r(5, 'sh', 'y') }, { remove: 'y', at: 4 }]))?.session, 'y');
    assert.equal(visibleRoute(fold([{ put: r(5, 'sh', 'y') }, { remove: 'y', at: 5 }])), undefined);
    assert.equal(visibleRoute(fold([{ put: r(5, 'sh', 'y') }, { remove: 'x', at: 9 }]))?.session, 'y');
  });
});

// ---------- replicas over a queue that reorders and duplicates ----------

/** A queue the test delivers from by hand, in any order, any number of times. */
class HandQueue implements Queue {
  readonly waiting: { queue: string; body: unknown }[] = [];
  published = 0;
  down = false;
  private readonly handlers = new Map<string, (d: QueueDelivery<unknown>) => Promise<void>>();
  async publish<T>(queue: string, body: T): Promise<void> {
    if (this.down) throw new Error('broker down');
    this.published++;
    this.waiting.push({ queue, body: structuredClone(body) });
  }
  async consume<T>(queue: string, handler: (d: QueueDelivery<T>) => Promise<void>): Promise<ConsumerHandle> {
    this.handlers.set(queue, handler as (d: QueueDelivery<unknown>) => Promise<void>);
    return { setConcurrency() {}, cancel: async () => void this.handlers.delete(queue) };
  }
  async stats(): Promise<QueueStats> {
    return { ready: this.waiting.length, unacked: 0, consumers: this.handlers.size };
  }
  /** Delivers message `i`; keeps it (a redelivery) when `again`. */
  async deliver(i: number, again: boolean): Promise<void> {
    const m = again ? this.waiting[i]! : this.waiting.splice(i, 1)[0]!;
    await this.handlers.get(m.queue)!({ body: m.body, redelivered: again });
  }
}

class ManualClock implements Scheduler {
  t = 0;
  now() {
    return this.t;
  }
  setTimeout(): TimerHandle {
    return { cancel() {} };
  }
  setInterval(): TimerHandle {
    return { cancel() {} };
  }
}

const tick = () => new Promise((r) => setImmediate(r));

interface Ez {
  name: string;
  store: MemoryRouteStore;
  clock: ManualClock;
  rep: RouteReplicator;
  sessions: string[];
}

async function cluster(q: Queue, names: readonly string[]) {
  const ezones: Ez[] = [];
  for (const name of names) {
    const store = new MemoryRouteStore();
    const clock = new ManualClock();
    const peers = names.filter((n) => n !== name);
    const rep = new RouteReplicator({
      ezone: name,
      store,
      outbound: q,
      peers,
      inbound: new Map(peers.map((p) => [p, q])),
      clock,
    });
    await rep.start();
    ezones.push({ name, store, clock, rep, sessions: [] });
  }
  return ezones;
}

type Op =
  | { kind: 'signin'; ez: number; dev: number }
  | { kind: 'signout'; ez: number; dev: number }
  | { kind: 'deliver'; pick: number; again: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('signin' as const), ez: fc.nat(2), dev: fc.nat(2) }),
  fc.record({ kind: fc.constant('signout' as const), ez: fc.nat(2), dev: fc.nat(2) }),
  fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), again: fc.boolean() }),
);

describe('route replicator', () => {
  test('replicas converge whatever the delivery order and duplicates; nothing is re-published', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
        const q = new HandQueue();
        const ezones = await cluster(q, EZONES);
        let time = 1;
        let seq = 0;
        let localWrites = 0;
        for (const op of ops) {
          if (op.kind === 'deliver') {
            if (q.waiting.length) await q.deliver(op.pick % q.waiting.length, op.again);
            continue;
          }
          const ez = ezones[op.ez]!;
          const device = `d${op.dev}`;
          ez.clock.t = time++;
          if (op.kind === 'signin') {
            const session = `${ez.name}.${++seq}`;
            ez.sessions.push(`${device}/${session}`);
            await ez.rep.routes.put({
              app: 'a',
              device,
              node: op.ez,
              ezone: ez.name,
              session,
              updatedAt: ez.clock.t,
            });
          } else {
            const mine = ez.sessions.filter((s) => s.startsWith(`${device}/`));
            const session = mine.at(-1)?.split('/')[1];
            if (!session) continue;
            await ez.rep.routes.remove('a', device, session);
          }
          localWrites++;
          await tick();
        }
        await tick();
        const publishedByWriters = q.published;
        // At most one publish per local write and peer (coalescing may merge some).
        assert.ok(publishedByWriters <= localWrites * (EZONES.length - 1));
        // Deliver everything left, twice over for some; applying must publish nothing.
        while (q.waiting.length) {
          if (q.waiting.length % 3 === 0) await q.deliver(0, true);
          await q.deliver(q.waiting.length - 1, false);
        }
        await tick();
        assert.equal(q.published, publishedByWriters, 'a replicated write was published again (a loop)');
        assert.equal(q.waiting.length, 0);
        for (const dev of [0, 1, 2]) {
          const routes = await Promise.all(ezones.map((e) => e.store.get('a', `d${dev}`)));
          for (const r of routes) assert.deepEqual(r, routes[0], `d${dev} differs between ezones`);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('a write coming back to its origin is dropped, never applied or published', async () => {
    const q = new HandQueue();
    const [sh] = await cluster(q, ['sh', 'bj']);
    const r = await sh!.rep.applyRemote({
      v: 1,
      origin: 'sh',
      app: 'a',
      device: 'd',
      put: { app: 'a', device: 'd', node: 1, ezone: 'sh', session: 's', updatedAt: 1 },
    });
    assert.equal(r, 'loop');
    assert.equal(await sh!.store.get('a', 'd'), undefined);
    assert.equal(q.published, 0);
    assert.equal(await sh!.rep.applyRemote({ garbage: true }), 'invalid');
  });

  test('broker outage: writes wait in the outbox, coalesced per device, and are published when it is back', async () => {
    const clock = new VirtualScheduler(1_000);
    const q = new MemoryQueue();
    let down = true;
    const flaky: Queue = {
      publish: (n, b, o) => (down ? Promise.reject(new Error('ECONNREFUSED')) : q.publish(n, b, o)),
      consume: (n, h, o) => q.consume(n, h, o),
      stats: (n) => q.stats(n),
    };
    const shStore = new MemoryRouteStore();
    const bjStore = new MemoryRouteStore();
    const sh = new RouteReplicator({
      ezone: 'sh',
      store: shStore,
      outbound: flaky,
      peers: ['bj'],
      inbound: new Map([['bj', q]]),
      clock,
      retryMs: 500,
    });
    const bj = new RouteReplicator({
      ezone: 'bj',
      store: bjStore,
      outbound: q,
      peers: ['sh'],
      inbound: new Map([['sh', flaky]]),
      clock,
    });
    await sh.start();
    await bj.start();
    for (let i = 0; i < 50; i++) {
      await sh.routes.put({
        app: 'a',
        device: `d${i % 10}`,
        node: 1,
        ezone: 'sh',
        session: `1.${i}`,
        updatedAt: 1_000 + i,
      });
    }
    await tick();
    assert.equal(sh.pending, 10, 'coalesced to one pending write per device');
    assert.equal(bjStore.size, 0);
    down = false;
    await clock.advance(600);
    for (let i = 0; i < 20 && bjStore.size < 10; i++) await tick();
    assert.equal(sh.pending, 0);
    for (let d = 0; d < 10; d++)
      assert.deepEqual(await bjStore.get('a', `d${d}`), await shStore.get('a', `d${d}`));
    await sh.stop();
    await bj.stop();
  });

  test('link outage: the peer reads nothing for a while, then catches up from the durable queue', async () => {
    const clock = new VirtualScheduler(1_000);
    const q = new MemoryQueue();
    const shStore = new MemoryRouteStore();
    const bjStore = new MemoryRouteStore();
    const sh = new RouteReplicator({
      ezone: 'sh',
      store: shStore,
      outbound: q,
      peers: ['bj'],
      inbound: new Map(),
      clock,
    });
    await sh.start();
    for (let i = 0; i < 20; i++)
      await sh.routes.put({
        app: 'a',
        device: `d${i}`,
        node: 1,
        ezone: 'sh',
        session: `1.${i}`,
        updatedAt: 2_000 + i,
      });
    await clock.advance(1_500); // the removal comes after the sign-in, on the same clock
    await sh.routes.remove('a', 'd3', '1.3');
    await tick();
    assert.equal((await q.stats(replicationQueueOf('sh', 'bj'))).ready, 21);
    // The link comes back: bj starts reading sh's broker.
    const bj = new RouteReplicator({
      ezone: 'bj',
      store: bjStore,
      outbound: q,
      peers: ['sh'],
      inbound: new Map([['sh', q]]),
      clock,
    });
    await bj.start();
    const busy = async () => {
      const st = await q.stats(replicationQueueOf('sh', 'bj'));
      return st.ready + st.unacked > 0;
    };
    for (let i = 0; i < 50 && (await busy()); i++) await tick();
    assert.equal(bjStore.size, 19);
    assert.equal(await bjStore.get('a', 'd3'), undefined);
    assert.equal((await bjStore.get('a', 'd7'))?.session, '1.7');
    await sh.stop();
    await bj.stop();
  });

  test('a remote sign-in is reported once, for the device’s new session only', async () => {
    const q = new HandQueue();
    const seen: string[] = [];
    const store = new MemoryRouteStore();
    const bj = new RouteReplicator({
      ezone: 'bj',
      store,
      outbound: q,
      peers: ['sh'],
      inbound: new Map([['sh', q]]),
      clock: new ManualClock(),
      onRemoteRoute: (r) => seen.push(r.session),
    });
    await bj.start();
    const put = { app: 'a', device: 'd', node: 1, ezone: 'sh', session: 's1', updatedAt: 5 };
    await bj.applyRemote({ v: 1, origin: 'sh', app: 'a', device: 'd', put });
    await bj.applyRemote({ v: 1, origin: 'sh', app: 'a', device: 'd', put });
    await bj.applyRemote({
      v: 1,
      origin: 'sh',
      app: 'a',
      device: 'd',
      put: { ...put, session: 's0', updatedAt: 3 },
    });
    assert.deepEqual(seen, ['s1']);
    assert.equal((await store.get('a', 'd'))?.session, 's1');
  });
});
