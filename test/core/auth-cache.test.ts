import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthCache } from '../../src/core/auth.js';
import { TacoError } from '../../src/core/errors.js';
import type { AppDirectory, AppInfo } from '../../src/core/ports.js';
import { StaticAppDirectory } from '../../src/engines/embedded/app-directory.js';
import { VirtualScheduler } from '../../src/sim/virtual-clock.js';
import { CoreHarness, T0 } from '../helpers/core-harness.js';

/** Shorter than the 5 min of the incident to keep the test fast; the behaviour does not depend on it. */
const REFRESH_MS = 60_000;

describe('auth cache (incident auth-cache-cancel)', () => {
  test('the refresh after refreshMs runs under the cache’s own lifetime: sign-ins keep working', async () => {
    const h = await CoreHarness.create({ config: { auth: { refreshMs: REFRESH_MS } } });
    await h.signIn('d1');
    assert.equal(h.directory.lookups.length, 1);
    await h.advance(REFRESH_MS - 1_000);
    await h.signIn('d2'); // served from the cache
    assert.equal(h.directory.lookups.length, 1);
    await h.advance(2_000); // past the first refresh
    for (let i = 0; i < 5; i++) await h.signIn(`after-1st-${i}`);
    assert.equal(h.directory.lookups.length, 2);
    await h.advance(REFRESH_MS + 1_000); // and the next one
    for (let i = 0; i < 5; i++) await h.signIn(`after-2nd-${i}`);
    assert.equal(h.directory.lookups.length, 3);
    assert.deepEqual(
      h.directory.lookups.map((l) => l.abortedOnEntry),
      [false, false, false],
    );
    assert.deepEqual(
      h.directory.lookups.map((l) => l.at - T0),
      [0, REFRESH_MS + 1_000, 2 * REFRESH_MS + 2_000],
    );
    assert.equal(h.node.authCache.failures, 0);
    assert.equal(h.telemetry.c('signin.failed'), 0);
    await h.stop();
  });

  test('with reuseRequestSignal: true every sign-in after the first refresh fails (the drill’s failing variant)', async () => {
    const h = await CoreHarness.create({
      config: { auth: { refreshMs: REFRESH_MS, reuseRequestSignal: true }, gateway: { retryAfterMs: 3_000 } },
    });
    await h.signIn('d1');
    await h.advance(REFRESH_MS - 1_000);
    await h.signIn('d2'); // still cached: the incident only shows at the refresh
    await h.advance(2_000);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) {
        const c = await h.tryConnect(`after-${round}-${i}`);
        assert.equal(c.conn.frames('welcome').length, 0, `round ${round}: sign-in ${i} succeeded`);
        assert.equal(c.conn.closeCode, 4503, 'a failing directory is the server’s problem, not 4401');
        const err = c.conn.errors()[0]!;
        assert.equal(err.code, 'TACO_ERR_CANCELLED');
        assert.equal(err.retryAfterMs, 3_000);
      }
      await h.advance(60_000); // retrying later does not help
    }
    assert.ok(h.directory.lookups.slice(1).every((l) => l.abortedOnEntry));
    assert.equal(h.node.authCache.failures, h.directory.lookups.length - 1);
    assert.equal(h.telemetry.c('signin.failed'), 15);
    assert.equal(h.gateway.connections, 0);
    await h.stop();
  });

  test('concurrent sign-ins share one lookup; an unknown app is cached as unknown until the refresh', async () => {
    const h = await CoreHarness.create();
    const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => h.tryConnect(`d${i}`)));
    for (const c of clients) assert.equal(c.conn.frames('welcome').length, 1);
    assert.equal(h.directory.lookups.length, 1);
    const ghost1 = await h.tryConnect('g1', { app: 'ghost', secret: 'x' });
    const ghost2 = await h.tryConnect('g2', { app: 'ghost', secret: 'x' });
    assert.equal(ghost1.conn.closeCode, 4401);
    assert.equal(ghost2.conn.closeCode, 4401);
    assert.equal(h.directory.lookups.filter((l) => l.appId === 'ghost').length, 1);
    await h.stop();
  });

  test('a directory outage fails sign-ins with 4503 + retryAfterMs, and they work again once it is back', async () => {
    const h = await CoreHarness.create({ config: { auth: { refreshMs: 10_000 } } });
    let down = false;
    const real = h.directory.lookup.bind(h.directory);
    h.directory.lookup = (appId, signal, timeoutMs) => {
      if (down) return Promise.reject(new Error('connection refused'));
      return real(appId, signal, timeoutMs);
    };
    await h.signIn('d1');
    down = true;
    await h.advance(11_000);
    const failed = await h.tryConnect('d2');
    assert.equal(failed.conn.closeCode, 4503);
    assert.equal(failed.conn.errors()[0]?.code, 'TACO_ERR_ENGINE_UNAVAILABLE');
    assert.ok(failed.conn.errors()[0]?.retryAfterMs);
    down = false;
    await h.signIn('d3');
    await h.stop();
  });

  test('AuthCache unit: lifetime signal, close() cancels, non-Taco errors are wrapped', async () => {
    const clock = new VirtualScheduler(T0);
    const seen: AbortSignal[] = [];
    const inner = new StaticAppDirectory([{ id: 'a', secret: 's' }]);
    const dir: AppDirectory = {
      lookup(appId: string, signal: AbortSignal): Promise<AppInfo | undefined> {
        seen.push(signal);
        return inner.lookup(appId, signal);
      },
    };
    const cache = new AuthCache(dir, clock, {
      refreshMs: 1_000,
      lookupTimeoutMs: 100,
      reuseRequestSignal: false,
    });
    const req = new AbortController();
    assert.deepEqual(await cache.get('a', req.signal), { id: 'a', secret: 's' });
    req.abort();
    await clock.advance(1_001);
    assert.deepEqual(await cache.get('a'), { id: 'a', secret: 's' });
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], req.signal, 'the first load must not use the request’s signal either');
    assert.equal(seen[1]!.aborted, false);
    cache.close();
    await assert.rejects(cache.get('a'), (e: unknown) => e instanceof TacoError && e.code === 'CANCELLED');

    const broken = new AuthCache({ lookup: () => Promise.reject(new Error('boom')) }, clock, {
      refreshMs: 1_000,
      lookupTimeoutMs: 100,
      reuseRequestSignal: false,
    });
    await assert.rejects(
      broken.get('a'),
      (e: unknown) => e instanceof TacoError && e.code === 'ENGINE_UNAVAILABLE' && /boom/.test(e.message),
    );
    assert.equal(broken.failures, 1);
  });
});
