import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { APP, APP2, type Client, CoreHarness, T0 } from '../helpers/core-harness.js';

const HB = 60; // default heartbeat, s
const HB_TIMEOUT_MS = (2 * HB + 5) * 1000;

describe('gateway core: sign-in', () => {
  test('welcome carries session, heartbeat, node and ezone; the route points at the session', async () => {
    const h = await CoreHarness.create({ node: 3, ezone: 'bj' });
    const c = await h.signIn('d1', { user: 'u1', loc: 'cn-bj' });
    const [w] = c.conn.frames('welcome');
    assert.equal(w!.heartbeat, HB);
    assert.equal(w!.node, 3);
    assert.equal(w!.ezone, 'bj');
    assert.equal(w!.session, c.session.id);
    const r = await h.routes.get(APP, 'd1');
    assert.equal(r?.session, c.session.id);
    assert.equal(r?.node, 3);
    assert.equal(r?.ezone, 'bj');
    assert.equal(r?.user, 'u1');
    assert.equal(r?.loc, 'cn-bj');
    assert.equal(h.gateway.sessions, 1);
    assert.equal(h.gateway.connections, 1);
    await h.stop();
  });

  test('no hello within 10 s → 4408, not before', async () => {
    const h = await CoreHarness.create();
    const { conn } = h.connect();
    await h.advance(9_999);
    assert.equal(conn.closed, false);
    assert.equal(h.gateway.connections, 1);
    await h.advance(1_000);
    assert.equal(conn.closeCode, 4408);
    assert.ok(conn.closedAt! >= T0 + 10_000 && conn.closedAt! <= T0 + 11_000);
    assert.equal(conn.errors()[0]?.code, 'TACO_ERR_SIGN_IN_TIMEOUT');
    assert.equal(h.gateway.connections, 0);
    await h.stop();
  });

  test('a hello after a few seconds signs in and cancels the sign-in timeout', async () => {
    const h = await CoreHarness.create();
    const { conn, session } = h.connect();
    await h.advance(9_000);
    h.sendText(session, h.hello('d1'));
    await h.settle();
    assert.equal(conn.frames('welcome').length, 1);
    await h.advance(5_000);
    assert.equal(conn.closed, false);
    await h.stop();
  });

  test('a frame before hello → error frame + 4400', async () => {
    const h = await CoreHarness.create();
    for (const f of [
      { op: 'ping' },
      { op: 'ack', id: '1', status: 'received' },
      { op: 'state', appState: 'background' },
    ]) {
      const { conn, session } = h.connect();
      h.sendText(session, f);
      assert.equal(conn.closeCode, 4400, JSON.stringify(f));
      assert.equal(conn.errors()[0]?.code, 'TACO_ERR_HELLO_REQUIRED');
    }
    assert.equal(h.gateway.connections, 0);
    await h.stop();
  });

  test('malformed JSON, unknown op, oversized frame → error frame + 4400; other sessions unaffected', async () => {
    const h = await CoreHarness.create();
    const bystander = await h.signIn('bystander');
    const cases: [string, string][] = [
      ['{not json', 'TACO_ERR_BAD_FRAME'],
      ['{"op":"subscribe"}', 'TACO_ERR_UNKNOWN_OP'],
      [JSON.stringify({ op: 'up', id: 'x', data: { p: 'x'.repeat(70_000) } }), 'TACO_ERR_FRAME_TOO_LARGE'],
      ['{"op":"ack","id":"1","status":"read"}', 'TACO_ERR_BAD_FRAME'],
      [JSON.stringify(h.hello('again')), 'TACO_ERR_BAD_FRAME'], // hello twice
    ];
    for (const [text, code] of cases) {
      const c = await h.signIn(`d-${code}-${text.length}`);
      h.sendText(c.session, text);
      assert.equal(c.conn.closeCode, 4400, text.slice(0, 40));
      const errs = c.conn.errors();
      assert.equal(errs.length, 1);
      assert.equal(errs[0]!.code, code);
      assert.equal(await h.routes.get(APP, c.device), undefined, 'route of the closed session removed');
    }
    // The same garbage before hello is also 4400.
    const pre = h.connect();
    h.sendText(pre.session, '{"op":"subscribe"}');
    assert.equal(pre.conn.closeCode, 4400);

    assert.equal(bystander.conn.closed, false);
    h.ping(bystander);
    assert.equal(bystander.conn.frames('pong').length, 1);
    assert.equal(h.gateway.sessions, 1);
    assert.equal(h.gateway.connections, 1);
    assert.equal((await h.routes.get(APP, 'bystander'))?.session, bystander.session.id);
    await h.stop();
  });

  test('bad signature, expired token, garbage token, unknown app → 4401', async () => {
    const h = await CoreHarness.create();
    const cases: [string, Parameters<CoreHarness['hello']>[1], string][] = [
      ['bad-secret', { secret: 'wrong' }, 'TACO_ERR_TOKEN_INVALID'],
      ['expired', { expSec: T0 / 1000 - 1 }, 'TACO_ERR_TOKEN_EXPIRED'],
      ['unknown-app', { app: 'ghost', secret: 'x' }, 'TACO_ERR_UNKNOWN_APP'],
      ['other-app-secret', { app: APP2, secret: 'app1-secret' }, 'TACO_ERR_TOKEN_INVALID'],
    ];
    for (const [device, o, code] of cases) {
      const c = await h.tryConnect(device, o);
      assert.equal(c.conn.closeCode, 4401, device);
      assert.equal(c.conn.errors()[0]?.code, code, device);
      assert.equal(c.conn.frames('welcome').length, 0);
    }
    const { conn, session } = h.connect();
    h.sendText(session, { op: 'hello', token: 'garbage', platform: 'ios', appState: 'foreground' });
    await h.settle();
    assert.equal(conn.closeCode, 4401);
    assert.equal(h.gateway.connections, 0);
    assert.equal(h.gateway.sessions, 0);
    assert.equal(h.routes.size, 0);
    await h.stop();
  });

  test('a token that expires while connected does not matter; one expiring before hello does', async () => {
    const h = await CoreHarness.create();
    const exp = T0 / 1000 + 5;
    const ok = await h.signIn('d1', { expSec: exp });
    const late = h.connect();
    const hello = h.hello('d2', { expSec: exp });
    await h.advance(6_000);
    h.sendText(late.session, hello);
    await h.settle();
    assert.equal(late.conn.closeCode, 4401);
    assert.equal(ok.conn.closed, false);
    await h.stop();
  });

  test('second session of the same device → first closed 4409, the route points to the new one', async () => {
    const h = await CoreHarness.create();
    const first = await h.signIn('d1');
    const other = await h.signIn('d2');
    const second = await h.signIn('d1');
    assert.equal(first.conn.closeCode, 4409);
    assert.equal(first.conn.errors()[0]?.code, 'TACO_ERR_REPLACED');
    assert.equal(second.conn.closed, false);
    assert.notEqual(first.session.id, second.session.id);
    assert.equal((await h.routes.get(APP, 'd1'))?.session, second.session.id);
    assert.equal(h.gateway.sessionOf(APP, 'd1'), second.session);
    assert.equal(h.gateway.sessions, 2);
    assert.equal(h.gateway.connections, 2);
    // The old transport reporting its end afterwards changes nothing.
    h.gateway.gone(first.session);
    await h.settle();
    assert.equal((await h.routes.get(APP, 'd1'))?.session, second.session.id);
    assert.equal(h.gateway.sessions, 2);
    // Frames on the replaced session are ignored.
    h.ping(first);
    assert.equal(first.conn.frames('pong').length, 0);
    assert.equal(other.conn.closed, false);
    // The same device id in another app is another device.
    const otherApp = await h.signIn('d1', { app: APP2 });
    assert.equal(second.conn.closed, false);
    assert.equal(otherApp.conn.closed, false);
    await h.stop();
  });

  test('a closed session removes only its own route', async () => {
    const h = await CoreHarness.create();
    const a = await h.signIn('d1');
    h.gateway.gone(a.session);
    await h.settle();
    assert.equal(await h.routes.get(APP, 'd1'), undefined);
    assert.equal(h.gateway.sessions, 0);
    assert.equal(h.gateway.connections, 0);
    assert.equal(a.conn.closed, false, 'a gone transport is not closed again');
    await h.stop();
  });
});

describe('gateway core: heartbeats and reaping', () => {
  test('a silent session is reaped within 2×heartbeat+5 s, not before 2×heartbeat', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    const signedInAt = h.now();
    await h.advanceTo(signedInAt + 2 * HB * 1000);
    assert.equal(c.conn.closed, false, 'closed before 2×heartbeat');
    await h.advanceTo(signedInAt + HB_TIMEOUT_MS);
    assert.equal(c.conn.closeCode, 4408, 'not reaped by 2×heartbeat+5 s');
    assert.equal(c.conn.errors()[0]?.code, 'TACO_ERR_HEARTBEAT_TIMEOUT');
    assert.ok(c.conn.closedAt! - signedInAt > 2 * HB * 1000);
    assert.ok(c.conn.closedAt! - signedInAt <= HB_TIMEOUT_MS);
    assert.equal(await h.routes.get(APP, 'd1'), undefined);
    assert.equal(h.gateway.sessions, 0);
    assert.equal(h.gateway.connections, 0);
    assert.equal(h.telemetry.c('session.reaped'), 1);
    await h.stop();
  });

  test('the reap deadline holds whatever the phase of the gateway tick and of the last frame', async () => {
    const hb = 5;
    const timeoutMs = (2 * hb + 5) * 1000;
    for (const phase of [1, 333, 500, 999]) {
      const h = await CoreHarness.create({ startMs: T0 + phase, config: { gateway: { heartbeatSec: hb } } });
      const offsets = [0, 1, 250, 499, 500, 998, 999];
      const clients: { c: Client; at: number }[] = [];
      for (const off of offsets) {
        const c = await h.signIn(`d${off}`);
        clients.push({ c, at: 0 });
      }
      // Last frames spread over one tick, at every phase relative to the gateway's tick.
      const t = h.now();
      for (const [i, off] of offsets.entries()) {
        await h.advanceTo(t + 1_000 + off);
        h.ping(clients[i]!.c);
        clients[i]!.at = h.now();
      }
      for (const { c, at } of clients) {
        await h.advanceTo(at + 2 * hb * 1000);
        assert.equal(c.conn.closed, false, `phase ${phase}, ${c.device}: reaped before 2×heartbeat`);
      }
      await h.advance(timeoutMs);
      for (const { c, at } of clients) {
        assert.equal(c.conn.closeCode, 4408, `phase ${phase}, ${c.device}: never reaped`);
        assert.ok(
          c.conn.closedAt! - at <= timeoutMs,
          `phase ${phase}, ${c.device}: reaped ${c.conn.closedAt! - at - timeoutMs} ms late`,
        );
        assert.ok(c.conn.closedAt! - at > 2 * hb * 1000);
      }
      await h.stop();
    }
  });

  test('pings (or any frame) keep a session alive and get pongs with the server time', async () => {
    const hb = 10;
    const h = await CoreHarness.create({ config: { gateway: { heartbeatSec: hb } } });
    const c = await h.signIn('d1');
    for (let i = 0; i < 10; i++) {
      await h.advance(hb * 1000 + 7);
      h.ping(c);
    }
    await h.advance(2 * hb * 1000);
    h.sendText(c.session, { op: 'state', appState: 'background' });
    await h.advance(2 * hb * 1000);
    assert.equal(c.conn.closed, false);
    const pongs = c.conn.frames('pong');
    assert.equal(pongs.length, 10);
    assert.equal(pongs[0]!.ts, c.conn.sent.find((s) => s.frame.op === 'pong')!.at);
    assert.equal(c.session.appState, 'background');
    await h.advance((2 * hb + 5) * 1000);
    assert.equal(c.conn.closeCode, 4408);
    await h.stop();
  });

  test('a transport with its own pong gets pong(ts) with the server time instead of a pong frame', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    const pongs: number[] = [];
    (c.conn as unknown as { pong(ts: number): void }).pong = (ts) => pongs.push(ts);
    await h.advance(1_234);
    h.ping(c);
    assert.deepEqual(pongs, [h.clock.now()]);
    assert.equal(c.conn.frames('pong').length, 0);
    // The ping kept the session alive as a pong frame would have.
    await h.advance(2 * HB * 1000);
    assert.equal(c.conn.closed, false);
    await h.stop();
  });

  test('a half-open session (peer sent FIN) is not kept alive and is reaped by the wheel', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    const keep = await h.signIn('d2');
    await h.advance(10_000);
    h.gateway.peerClosed(c.session);
    h.gateway.peerClosed(c.session); // counted once
    assert.equal(h.gateway.halfOpen, 1);
    // Undeliverable: the dispatcher treats it as offline.
    assert.equal(
      h.gateway.deliver(APP, 'd1', c.session.id, { op: 'push', id: '1', kind: 'notification', ts: 0 }),
      false,
    );
    const signedInAt = T0;
    for (let t = 0; t < 3; t++) {
      await h.advance(HB * 1000);
      h.ping(keep);
    }
    assert.equal(c.conn.closeCode, 4408);
    assert.ok(c.conn.closedAt! <= signedInAt + HB_TIMEOUT_MS + 1000);
    assert.equal(h.gateway.halfOpen, 0);
    assert.equal(h.gateway.connections, 1);
    assert.equal(keep.conn.closed, false);
    await h.stop();
  });

  test('a half-open connection that never said hello is reaped at the sign-in timeout', async () => {
    const h = await CoreHarness.create();
    const { conn, session } = h.connect();
    h.gateway.peerClosed(session);
    await h.advance(11_000);
    assert.equal(conn.closeCode, 4408);
    assert.equal(h.gateway.halfOpen, 0);
    assert.equal(h.gateway.connections, 0);
    await h.stop();
  });

  test('reapIdle=false leaks: timers fire but nothing is closed, connections stay', async () => {
    const gateway = { heartbeatSec: 10 };
    const h = await CoreHarness.create({ config: { gateway: { ...gateway, reapIdle: false } } });
    const silent = await h.signIn('d1');
    const noHello = h.connect();
    h.gateway.peerClosed(silent.session);
    await h.advance(100_000);
    assert.equal(silent.conn.closed, false);
    assert.equal(noHello.conn.closed, false);
    assert.equal(h.gateway.connections, 2);
    assert.equal(h.gateway.leaked, 2);
    assert.equal(h.gateway.halfOpen, 1);
    assert.equal(h.gateway.sessions, 1);
    assert.equal(h.telemetry.c('session.reaped'), 0);
    // The same run with the reaper on closes both.
    const g = await CoreHarness.create({ config: { gateway } });
    const s2 = await g.signIn('d1');
    const n2 = g.connect();
    g.gateway.peerClosed(s2.session);
    await g.advance(100_000);
    assert.equal(s2.conn.closeCode, 4408);
    assert.equal(n2.conn.closeCode, 4408);
    assert.equal(g.gateway.connections, 0);
    assert.equal(g.gateway.leaked, 0);
    await h.stop();
    await g.stop();
  });
});

describe('gateway core: admission control and drain', () => {
  test('beyond signInsPerSec + burst → error with retryAfterMs and 4503; tokens refill at the rate', async () => {
    const h = await CoreHarness.create({
      config: { gateway: { signInsPerSec: 10, signInBurst: 5, retryAfterMs: 1500 } },
    });
    const ok = [];
    for (let i = 0; i < 5; i++) ok.push(await h.tryConnect(`d${i}`));
    const rejected = await h.tryConnect('d5');
    for (const c of ok) assert.equal(c.conn.frames('welcome').length, 1);
    assert.equal(rejected.conn.closeCode, 4503);
    const err = rejected.conn.errors()[0]!;
    assert.equal(err.code, 'TACO_ERR_OVERLOADED');
    assert.equal(err.retryAfterMs, 1500);
    assert.match(rejected.conn.closes[0]!.reason, /retry-after=2/);
    assert.equal(h.telemetry.c('signin.rejected'), 1);
    // 100 ms later exactly one more token.
    await h.advance(100);
    assert.equal((await h.tryConnect('d6')).conn.frames('welcome').length, 1);
    assert.equal((await h.tryConnect('d7')).conn.closeCode, 4503);
    // Over 10 s at the rate: 10 per second pass, the rest is rejected.
    let passed = 0;
    let refused = 0;
    for (let ms = 0; ms < 10_000; ms += 20) {
      await h.advance(20);
      const c = await h.tryConnect(`x${ms}`);
      if (c.conn.frames('welcome').length) passed++;
      else if (c.conn.closeCode === 4503) refused++;
    }
    assert.ok(passed >= 99 && passed <= 101, `passed ${passed}`);
    assert.equal(passed + refused, 500);
    await h.stop();
  });

  test('signInsPerSec = 0 disables admission control', async () => {
    const h = await CoreHarness.create({ config: { gateway: { signInsPerSec: 0, signInBurst: 1 } } });
    for (let i = 0; i < 50; i++) await h.signIn(`d${i}`);
    assert.equal(h.gateway.sessions, 50);
    await h.stop();
  });

  for (const rate of [1, 5, 20, 300]) {
    test(`drain closes matching sessions at drainPerSec=${rate} with 4503`, async () => {
      const n = Math.max(12, Math.ceil(rate * 2.5));
      const h = await CoreHarness.create({ config: { gateway: { drainPerSec: rate, signInsPerSec: 0 } } });
      const clients: Client[] = [];
      for (let i = 0; i < n; i++) clients.push(await h.signIn(`d${i}`, { loc: i % 2 ? 'odd' : 'even' }));
      const keep = await h.signIn('keeper', { loc: 'elsewhere' });
      h.gateway.drain((s) => s.loc !== 'elsewhere', 'ezone bj');
      assert.equal(h.gateway.isDraining, true);
      const closedBy = (ms: number) => clients.filter((c) => c.conn.closed && c.conn.closedAt! <= ms).length;
      await h.advance(2_000);
      const after1 = closedBy(T0 + 1_000);
      const after2 = closedBy(T0 + 2_000);
      assert.ok(Math.abs(after1 - rate) <= Math.max(1, rate * 0.1), `1 s: ${after1} closed at ${rate}/s`);
      assert.ok(Math.abs(after2 - 2 * rate) <= Math.max(1, rate * 0.1), `2 s: ${after2} closed at ${rate}/s`);
      await h.advance(Math.ceil((n / rate) * 1000) + 1000);
      for (const c of clients) {
        assert.equal(c.conn.closeCode, 4503);
        assert.equal(c.conn.errors()[0]?.code, 'TACO_ERR_DRAINING');
        assert.match(c.conn.errors()[0]!.message, /ezone bj/);
      }
      assert.equal(keep.conn.closed, false);
      assert.equal(h.gateway.isDraining, false);
      assert.equal(h.gateway.sessions, 1);
      await h.stop();
    });
  }

  test('shutdown closes every signed-in session with 4503', async () => {
    const h = await CoreHarness.create();
    const a = await h.signIn('a');
    const b = await h.signIn('b');
    await h.stop();
    assert.equal(a.conn.closeCode, 4503);
    assert.equal(b.conn.closeCode, 4503);
    assert.equal(h.gateway.sessions, 0);
  });
});

describe('gateway core: frames of a signed-in session', () => {
  test('config newer than configVersion follows the welcome; not when the client is up to date', async () => {
    const h = await CoreHarness.create();
    await h.messages.setConfig(APP, 'ios', { theme: 'dark' });
    await h.messages.setConfig(APP, 'ios', { theme: 'light' });
    const fresh = await h.signIn('d1', { platform: 'ios' });
    assert.deepEqual(fresh.conn.frames('config'), [{ op: 'config', version: 2, data: { theme: 'light' } }]);
    assert.equal(fresh.conn.sent[0]!.frame.op, 'welcome');
    const upToDate = await h.signIn('d2', { platform: 'ios', configVersion: 2 });
    assert.equal(upToDate.conn.frames('config').length, 0);
    const android = await h.signIn('d3', { platform: 'android' });
    assert.equal(android.conn.frames('config').length, 0);
    await h.stop();
  });

  test('up is acked once durably queued; register stores the token', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    h.sendText(c.session, { op: 'up', id: 'c-1', data: { hello: 'world' } });
    h.sendText(c.session, { op: 'register', channel: 'fcm', token: 'fcm-tok' });
    await h.settle();
    assert.deepEqual(c.conn.frames('up.ack'), [{ op: 'up.ack', id: 'c-1' }]);
    assert.equal(h.queue.depth(`upstream.${APP}`), 1);
    assert.deepEqual(await h.messages.channelsOf(APP, 'd1'), [{ channel: 'fcm', token: 'fcm-tok' }]);
    await h.stop();
  });
});
