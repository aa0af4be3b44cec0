/**
 * Basic auth of the business API remembers headers it has checked (the hot path is then one Map
 * lookup): it must still refuse what it refused before, and stop accepting a header once the
 * app's secret has changed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthCache } from '../../src/core/auth.js';
import type { Scheduler } from '../../src/core/clock.js';
import type { AppDirectory, AppInfo } from '../../src/core/ports.js';
import { authenticateBusiness, authenticateBusinessNow } from '../../src/gateway/business-auth.js';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function world(apps: Record<string, string>) {
  let now = 0;
  const clock: Scheduler = {
    now: () => now,
    setTimeout: () => ({ cancel() {} }),
    setInterval: () => ({ cancel() {} }),
  };
  let lookups = 0;
  // A directory that answers a fresh record on every lookup, as the MySQL one does.
  const dir: AppDirectory = {
    lookup: async (id) => {
      lookups++;
      const secret = apps[id];
      return secret === undefined ? undefined : ({ id, secret } as AppInfo);
    },
  };
  const cache = new AuthCache(dir, clock, {
    refreshMs: 60_000,
    lookupTimeoutMs: 1000,
    reuseRequestSignal: false,
  });
  return {
    cache,
    apps,
    lookups: () => lookups,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function refused(p: Promise<unknown>) {
  await assert.rejects(p, (e: { code?: string }) => e.code === 'UNAUTHENTICATED');
}

describe('business auth', () => {
  test('a checked header is answered synchronously, without a lookup', async () => {
    const w = world({ app1: 'secret-1' });
    const h = basic('app1', 'secret-1');
    assert.equal(authenticateBusinessNow(h, w.cache), undefined, 'never seen: the async path');
    assert.equal(await authenticateBusiness(h, w.cache), 'app1');
    const n = w.lookups();
    assert.equal(authenticateBusinessNow(h, w.cache), 'app1');
    assert.equal(await authenticateBusiness(h, w.cache), 'app1');
    assert.equal(w.lookups(), n);
  });

  test('wrong, malformed and missing headers are refused every time and never remembered', async () => {
    const w = world({ app1: 'secret-1' });
    for (const h of [basic('app1', 'wrong'), basic('nope', 'secret-1'), 'Bearer x', 'Basic !!!', undefined]) {
      await refused(authenticateBusiness(h, w.cache));
      await refused(authenticateBusiness(h, w.cache));
      assert.equal(authenticateBusinessNow(h, w.cache), undefined);
    }
  });

  test('after the secret changes, the old header is refused once the cache has refreshed', async () => {
    const w = world({ app1: 'old' });
    const old = basic('app1', 'old');
    assert.equal(await authenticateBusiness(old, w.cache), 'app1');
    w.apps.app1 = 'new';
    w.advance(60_001); // the cache's entry is stale: the memo must not answer for it
    assert.equal(authenticateBusinessNow(old, w.cache), undefined);
    await refused(authenticateBusiness(old, w.cache));
    assert.equal(await authenticateBusiness(basic('app1', 'new'), w.cache), 'app1');
    await refused(authenticateBusiness(old, w.cache));
  });

  test('a record whose secret is edited in place no longer vouches for the old header', async () => {
    const record: AppInfo = { id: 'app1', secret: 'old' } as AppInfo;
    const cache = new AuthCache(
      { lookup: async () => record },
      { now: () => 0, setTimeout: () => ({ cancel() {} }), setInterval: () => ({ cancel() {} }) },
      { refreshMs: 60_000, lookupTimeoutMs: 1000, reuseRequestSignal: false },
    );
    const old = basic('app1', 'old');
    assert.equal(await authenticateBusiness(old, cache), 'app1');
    record.secret = 'new';
    assert.equal(authenticateBusinessNow(old, cache), undefined);
    await refused(authenticateBusiness(old, cache));
  });

  test('two caches (two nodes in one process) do not vouch for each other', async () => {
    const a = world({ app1: 's' });
    const b = world({ app1: 'other' });
    const h = basic('app1', 's');
    assert.equal(await authenticateBusiness(h, a.cache), 'app1');
    assert.equal(authenticateBusinessNow(h, b.cache), undefined);
    await refused(authenticateBusiness(h, b.cache));
  });
});
