// What test/multinode/sigkill.test.ts found (1–2 of the first pushes after 300 sign-ins expired on
// devices that were online the whole time), pinned down on the core with embedded engines: the
// welcome goes out before the device's route is written; a push dispatched in between finds no
// route, counts the device offline and stays pending — and the sign-in's lookup of pending messages,
// made before the route write, had missed it, so it waited for the next sign-in or its TTL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Route } from '../../src/core/ports.js';
import { CoreHarness } from '../helpers/core-harness.js';

/** Holds every route write until release() (a slow route store under a sign-in storm). */
function holdRouteWrites(h: CoreHarness): { release(): void; held(): number } {
  const put = h.routes.put.bind(h.routes);
  const waiting: (() => void)[] = [];
  h.routes.put = (r: Route) =>
    new Promise<void>((resolve, reject) => waiting.push(() => put(r).then(resolve, reject)));
  return {
    release: () => {
      h.routes.put = put;
      for (const w of waiting.splice(0)) w();
    },
    held: () => waiting.length,
  };
}

describe('a push dispatched between the welcome and the route write', () => {
  test('reaches the device once its route is written', async () => {
    const h = await CoreHarness.create();
    const routes = holdRouteWrites(h);
    const c = await h.signIn('d1');
    assert.equal(routes.held(), 1, 'the welcome is out, the route write is not done');

    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    await h.advance(100);
    assert.equal(c.conn.pushes().length, 0, 'no route yet: the dispatcher counted the device offline');
    assert.equal((await h.status(id!)).status, 'queued');

    routes.release();
    await h.advance(100);
    assert.deepEqual(
      c.conn.pushes().map((p) => p.id),
      [id],
    );
    h.ack(c, id!);
    await h.settle();
    assert.equal((await h.status(id!)).status, 'delivered');
    await h.stop();
  });

  test('a failing route store does not hold back pending messages', async () => {
    const h = await CoreHarness.create();
    // Sent while the device was offline: pending for its next sign-in.
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    h.routes.put = () => Promise.reject(new Error('route store down'));
    const c = await h.signIn('d1');
    await h.advance(100);
    assert.deepEqual(
      c.conn.pushes().map((p) => p.id),
      [id],
    );
    await h.stop();
  });
});
