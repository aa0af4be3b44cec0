import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import { AuthCache, Authenticator } from '../../src/core/auth.js';
import type { Scheduler } from '../../src/core/clock.js';
import { TacoError } from '../../src/core/errors.js';
import { jwtHs256Codec, signToken, type TokenClaims } from '../../src/core/token.js';
import { StaticAppDirectory } from '../../src/engines/embedded/app-directory.js';
import { FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

const SECRET = 's3cret-of-app1';
const NOW = Date.UTC(2025, 0, 1);
const nowSec = NOW / 1000;

/** The authenticator only reads the time. */
const fixedClock = (now: number): Scheduler => ({
  now: () => now,
  setTimeout: () => ({ cancel() {} }),
  setInterval: () => ({ cancel() {} }),
});

function authenticator(now = NOW) {
  const clock = fixedClock(now);
  const dir = new StaticAppDirectory([
    { id: 'app1', secret: SECRET },
    { id: 'app2', secret: 'other' },
  ]);
  const cache = new AuthCache(dir, clock, {
    refreshMs: 300_000,
    lookupTimeoutMs: 1000,
    reuseRequestSignal: false,
  });
  return new Authenticator(jwtHs256Codec, cache, clock);
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TacoError, `expected TacoError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.closeCode, 4401);
    if (re) assert.match(e.message, re);
    return true;
  });
}

function parseThrows(token: string, re?: RegExp) {
  assert.throws(
    () => jwtHs256Codec.parse(token),
    (e: unknown) => {
      assert.ok(e instanceof TacoError, String(e));
      assert.equal(e.code, 'TOKEN_INVALID');
      if (re) assert.match(e.message, re);
      return true;
    },
  );
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const idStr = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
const claimsArb: fc.Arbitrary<TokenClaims> = fc.record(
  {
    app: idStr,
    dev: idStr,
    sub: idStr,
    loc: idStr,
    exp: fc.integer({ min: 0, max: 2 ** 40 }),
  },
  { requiredKeys: ['app', 'dev', 'exp'], noNullPrototype: true },
);

describe('token codec', () => {
  test('signToken → jwtHs256Codec.parse gives the claims and verifies with the secret only', () => {
    fc.assert(
      fc.property(claimsArb, fc.string({ minLength: 1, maxLength: 64 }), (claims, secret) => {
        const tok = signToken(claims, secret);
        const parsed = jwtHs256Codec.parse(tok);
        assert.deepEqual(parsed.claims, claims);
        assert.equal(parsed.verify(secret), true);
        assert.equal(parsed.verify(`${secret}x`), false);
      }),
      { numRuns: 300 },
    );
  });

  test('a token signed with jose (SignJWT HS256) verifies (interop), and ours verifies in jose', async () => {
    const key = new TextEncoder().encode(SECRET);
    const tok = await new SignJWT({ app: 'app1', dev: 'd1', sub: 'u1', loc: 'cn-sh' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(nowSec)
      .setExpirationTime(nowSec + 600)
      .sign(key);
    const parsed = jwtHs256Codec.parse(tok);
    assert.deepEqual(parsed.claims, { app: 'app1', dev: 'd1', sub: 'u1', loc: 'cn-sh', exp: nowSec + 600 });
    assert.equal(parsed.verify(SECRET), true);
    assert.deepEqual(await authenticator().authenticate(tok), parsed.claims);

    const ours = signToken({ app: 'app1', dev: 'd1', exp: 4_102_444_800 }, SECRET);
    const { payload, protectedHeader } = await jwtVerify(ours, key, { algorithms: ['HS256'] });
    assert.equal(protectedHeader.alg, 'HS256');
    assert.equal(payload.dev, 'd1');
  });

  test('a valid token authenticates', async () => {
    const claims = { app: 'app1', dev: 'd1', exp: nowSec + 60 };
    assert.deepEqual(await authenticator().authenticate(signToken(claims, SECRET)), claims);
  });

  test('tampered payload → TOKEN_INVALID', async () => {
    const tok = signToken({ app: 'app1', dev: 'd1', exp: nowSec + 60 }, SECRET);
    const [h, , s] = tok.split('.');
    const forged = `${h}.${b64({ app: 'app1', dev: 'd2', exp: nowSec + 60 })}.${s}`;
    await rejectsWith(authenticator().authenticate(forged), 'TOKEN_INVALID', /signature/);
    // Tampered signature too.
    const sig = Buffer.from(s!, 'base64url');
    sig[0]! ^= 1;
    await rejectsWith(
      authenticator().authenticate(`${h}.${tok.split('.')[1]}.${sig.toString('base64url')}`),
      'TOKEN_INVALID',
    );
    // Truncated signature.
    await rejectsWith(
      authenticator().authenticate(`${h}.${tok.split('.')[1]}.${s!.slice(0, 10)}`),
      'TOKEN_INVALID',
    );
  });

  test('wrong secret (including another app’s secret) → TOKEN_INVALID', async () => {
    await rejectsWith(
      authenticator().authenticate(signToken({ app: 'app1', dev: 'd1', exp: nowSec + 60 }, 'nope')),
      'TOKEN_INVALID',
    );
    await rejectsWith(
      authenticator().authenticate(signToken({ app: 'app1', dev: 'd1', exp: nowSec + 60 }, 'other')),
      'TOKEN_INVALID',
    );
  });

  test('alg none and other algorithms → TOKEN_INVALID', async () => {
    const none = new UnsecuredJWT({ app: 'app1', dev: 'd1' }).setExpirationTime(nowSec + 60).encode();
    parseThrows(none, /HS256/);
    await rejectsWith(authenticator().authenticate(none), 'TOKEN_INVALID');
    const payload = b64({ app: 'app1', dev: 'd1', exp: nowSec + 60 });
    for (const alg of ['none', 'HS512', 'RS256', 'hs256']) {
      const h = b64({ alg, typ: 'JWT' });
      const sig = createHmac('sha256', SECRET).update(`${h}.${payload}`).digest('base64url');
      parseThrows(`${h}.${payload}.${sig}`, /HS256/);
    }
  });

  test('expired → TOKEN_EXPIRED (exp is in seconds; exp == now is expired)', async () => {
    await rejectsWith(
      authenticator().authenticate(signToken({ app: 'app1', dev: 'd1', exp: nowSec - 1 }, SECRET)),
      'TOKEN_EXPIRED',
    );
    await rejectsWith(
      authenticator().authenticate(signToken({ app: 'app1', dev: 'd1', exp: nowSec }, SECRET)),
      'TOKEN_EXPIRED',
    );
    const ok = await authenticator().authenticate(
      signToken({ app: 'app1', dev: 'd1', exp: nowSec + 1 }, SECRET),
    );
    assert.equal(ok.dev, 'd1');
  });

  test('unknown app → UNKNOWN_APP', async () => {
    await rejectsWith(
      authenticator().authenticate(signToken({ app: 'ghost', dev: 'd1', exp: nowSec + 60 }, SECRET)),
      'UNKNOWN_APP',
      /ghost/,
    );
  });

  test('malformed tokens and claims → TOKEN_INVALID with a reason', () => {
    const h = b64({ alg: 'HS256', typ: 'JWT' });
    parseThrows('', /three dot-separated parts/);
    parseThrows('a.b', /three dot-separated parts/);
    parseThrows('a.b.c.d', /three dot-separated parts/);
    parseThrows(`!!.${b64({})}.x`, /header/);
    parseThrows(`${h}.not-json.x`, /payload/);
    parseThrows(`${b64(null)}.${b64({})}.x`, /HS256/);
    parseThrows(`${h}.${b64(null)}.x`, /claims must be an object/);
    parseThrows(`${h}.${b64({ dev: 'd', exp: 1 })}.x`, /"app"/);
    parseThrows(`${h}.${b64({ app: 'a', exp: 1 })}.x`, /"dev"/);
    parseThrows(`${h}.${b64({ app: '', dev: 'd', exp: 1 })}.x`, /"app"/);
    parseThrows(`${h}.${b64({ app: 'a'.repeat(257), dev: 'd', exp: 1 })}.x`, /"app"/);
    parseThrows(`${h}.${b64({ app: 'a', dev: 'd' })}.x`, /"exp"/);
    parseThrows(`${h}.${b64({ app: 'a', dev: 'd', exp: '1' })}.x`, /"exp"/);
    parseThrows(`${h}.${b64({ app: 'a', dev: 'd', exp: 1, sub: 5 })}.x`, /"sub"/);
    parseThrows(`${h}.${b64({ app: 'a', dev: 'd', exp: 1, loc: '' })}.x`, /"loc"/);
  });

  test('any string as a token fails only with TOKEN_INVALID (property)', () => {
    const h = b64({ alg: 'HS256', typ: 'JWT' });
    const tokenish = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }))
        .map((p) => p.join('.')),
      fc.jsonValue({ maxDepth: 2 }).map((v) => `${h}.${b64(v)}.sig`),
    );
    fc.assert(
      fc.property(tokenish, (t) => {
        try {
          const parsed = jwtHs256Codec.parse(t);
          assert.equal(parsed.verify(SECRET), false);
        } catch (e) {
          assert.ok(e instanceof TacoError, String(e));
          assert.equal(e.code, 'TOKEN_INVALID');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
