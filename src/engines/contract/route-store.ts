/** The RouteStore contract (src/core/ports.ts), as tests any implementation must pass. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Route, RouteStore } from '../../core/ports.js';
import { type ContractOptions, type Factory, type Subject, uniq } from './harness.js';

function route(app: string, device: string, over: Partial<Route> = {}): Route {
  return { app, device, node: 1, ezone: 'sh', session: uniq('s'), updatedAt: 1_700_000_000_000, ...over };
}

function pick(r: Route | undefined) {
  if (!r) return undefined;
  const { app, device, user, loc, node, ezone, session, updatedAt } = r;
  return { app, device, user, loc, node, ezone, session, updatedAt };
}

export function routeStoreContract(
  name: string,
  factory: Factory<RouteStore>,
  opts: ContractOptions = {},
): void {
  describe(`RouteStore contract: ${name}`, { skip: opts.skip, timeout: opts.timeoutMs ?? 60_000 }, () => {
    let s: Subject<RouteStore>;
    let store: RouteStore;
    before(async () => {
      s = await factory();
      store = s.subject;
    });
    after(async () => s?.cleanup());

    test('get of an unknown device is undefined', async () => {
      assert.equal(await store.get(uniq('app'), 'nobody'), undefined);
    });

    test('put then get returns the route', async () => {
      const app = uniq('app');
      const r = route(app, 'd1', { user: 'u1', loc: 'sh-pudong', node: 7, ezone: 'bj' });
      await store.put(r);
      assert.deepEqual(pick(await store.get(app, 'd1')), pick(r));
    });

    test('last writer wins by updatedAt: an older write never replaces a newer one', async () => {
      const app = uniq('app');
      const newer = route(app, 'd', { updatedAt: 2_000, node: 2 });
      const older = route(app, 'd', { updatedAt: 1_000, node: 1 });
      await store.put(newer);
      await store.put(older);
      assert.equal((await store.get(app, 'd'))?.session, newer.session);
      const newest = route(app, 'd', { updatedAt: 3_000, node: 3 });
      await store.put(newest);
      assert.equal((await store.get(app, 'd'))?.session, newest.session);
    });

    test('a tie on updatedAt goes to the greater ezone; an identical version does not replace', async () => {
      const app = uniq('app');
      const bj = route(app, 'd', { updatedAt: 5_000, ezone: 'bj' });
      const sh = route(app, 'd', { updatedAt: 5_000, ezone: 'sh' });
      await store.put(sh);
      await store.put(bj);
      assert.equal((await store.get(app, 'd'))?.session, sh.session, "'bj' < 'sh' must not win the tie");
      const same = route(app, 'd', { updatedAt: 5_000, ezone: 'sh' });
      await store.put(same);
      assert.equal((await store.get(app, 'd'))?.session, sh.session);
      const sz = route(app, 'd', { updatedAt: 5_000, ezone: 'sz' });
      await store.put(sz);
      assert.equal((await store.get(app, 'd'))?.session, sz.session);
    });

    test('concurrent puts converge on the newest (updatedAt, ezone)', async () => {
      const app = uniq('app');
      const writes = Array.from({ length: 24 }, (_, i) =>
        route(app, 'd', { updatedAt: 10_000 + ((i * 7) % 11), ezone: ['bj', 'sh', 'gz'][i % 3]!, node: i }),
      );
      await Promise.all(writes.map((w) => store.put(w)));
      const best = writes.reduce((a, b) =>
        b.updatedAt > a.updatedAt || (b.updatedAt === a.updatedAt && b.ezone > a.ezone) ? b : a,
      );
      assert.equal((await store.get(app, 'd'))?.session, best.session);
    });

    test('remove deletes only the given session', async () => {
      const app = uniq('app');
      const r = route(app, 'd');
      await store.put(r);
      await store.remove(app, 'd', 'some-older-session');
      assert.equal((await store.get(app, 'd'))?.session, r.session, 'a stale reap must not remove the route');
      await store.remove(app, 'd', r.session);
      assert.equal(await store.get(app, 'd'), undefined);
    });

    test('devicesOfUser lists the devices a user signed in with', async () => {
      const app = uniq('app');
      await store.put(route(app, 'phone', { user: 'alice' }));
      await store.put(route(app, 'tablet', { user: 'alice' }));
      await store.put(route(app, 'other', { user: 'bob' }));
      assert.deepEqual((await store.devicesOfUser(app, 'alice')).sort(), ['phone', 'tablet']);
      assert.deepEqual(await store.devicesOfUser(app, 'carol'), []);
      assert.deepEqual(await store.devicesOfUser(uniq('app'), 'alice'), []);
    });

    test('an older write that does not apply does not join its user', async () => {
      const app = uniq('app');
      await store.put(route(app, 'd', { user: 'alice', updatedAt: 2_000 }));
      await store.put(route(app, 'd', { user: 'mallory', updatedAt: 1_000 }));
      assert.deepEqual(await store.devicesOfUser(app, 'mallory'), []);
    });

    test('devicesOfApp lists every device that signed in, also after its route is removed', async () => {
      const app = uniq('app');
      const rs = ['a', 'b', 'c'].map((d) => route(app, d));
      for (const r of rs) await store.put(r);
      await store.put(route(uniq('app'), 'z'));
      await store.remove(app, 'b', rs[1]!.session);
      assert.deepEqual((await store.devicesOfApp(app)).sort(), ['a', 'b', 'c']);
    });

    test('ids with separators do not collide', async () => {
      const app = uniq('a');
      const r1 = route(`${app}:x`, 'y');
      const r2 = route(app, 'x:y');
      await store.put(r1);
      await store.put(r2);
      assert.equal((await store.get(`${app}:x`, 'y'))?.session, r1.session);
      assert.equal((await store.get(app, 'x:y'))?.session, r2.session);
      assert.deepEqual(await store.devicesOfApp(`${app}:x`), ['y']);
    });
  });
}
