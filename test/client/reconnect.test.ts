import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { TacoClient } from '../../src/client/client.js';
import { FakeGateway, makeClient, sleep, TrackedTimers, until } from './harness.js';

describe('TacoClient reconnects', () => {
  test('after the server drops the socket: backoff, new hello, open again', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw);
    client.connect();
    await (await gw.conn(0)).accept();
    await until(() => client.state === 'open');
    gw.conns[0]!.terminate();
    const conn2 = await gw.conn(1);
    await conn2.accept({ session: 's2' });
    await until(() => client.state === 'open');
    assert.deepEqual(
      ev.states.map((s) => s.state),
      ['connecting', 'open', 'closed', 'connecting', 'open'],
    );
    const closed = ev.states[2]!;
    assert.equal(closed.code, 1006);
    assert.equal(closed.reconnectInMs, 0); // random() = 0 with full jitter
    assert.equal(client.session, 's2');
  });

  test('consecutive failures back off exponentially; the welcome reconnect policy applies', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { random: () => 0.5 });
    client.connect();
    await (await gw.conn(0)).accept({ reconnect: { baseMs: 10, maxMs: 35, jitter: 'none' } });
    await until(() => client.state === 'open');
    await gw.close(); // from now on every attempt is refused
    await until(() => ev.states.filter((s) => s.reconnectInMs !== undefined).length >= 5, 3000, '5 retries');
    const delays = ev.states.filter((s) => s.reconnectInMs !== undefined).map((s) => s.reconnectInMs);
    assert.deepEqual(delays.slice(0, 5), [10, 20, 35, 35, 35]);
  });

  test('4409 replaced: stops, reports the error, holds no timer', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev, timers } = makeClient(t, gw);
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    await until(() => client.state === 'open');
    conn.send({
      op: 'error',
      code: 'TACO_ERR_REPLACED',
      message: 'replaced by a newer session of this device',
    });
    conn.close(4409, 'replaced');
    await until(() => ev.states.at(-1)?.state === 'closed');
    await sleep(150);
    assert.equal(gw.conns.length, 1, 'no reconnect after 4409');
    assert.deepEqual(ev.states.at(-1), { state: 'closed', code: 4409, reason: 'replaced' });
    const fatal = ev.errors.filter((e) => e.fatal);
    assert.equal(fatal.length, 1);
    assert.equal(fatal[0]!.code, 'TACO_ERR_REPLACED');
    assert.equal(fatal[0]!.closeCode, 4409);
    assert.equal(timers.live.size, 0);
  });

  test('4401 bad token: stops with an error; connect() starts again with a fresh token', async (t) => {
    const gw = await FakeGateway.start();
    let n = 0;
    const { client, ev } = makeClient(t, gw, { token: () => `t${++n}` });
    client.connect();
    const conn = await gw.conn(0);
    await conn.take('hello');
    conn.close(4401, 'token_expired'); // no error frame: the SDK names the error itself
    await until(() => ev.errors.some((e) => e.fatal));
    assert.equal(ev.errors[0]!.code, 'TACO_ERR_UNAUTHENTICATED');
    await sleep(100);
    assert.equal(gw.conns.length, 1);
    client.connect();
    assert.equal((await (await gw.conn(1)).take('hello')).token, 't2');
  });

  test('4503 retry-after=1: the next attempt waits at least 1 s', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw);
    client.connect();
    const conn = await gw.conn(0);
    await conn.take('hello');
    const t0 = performance.now();
    conn.close(4503, 'retry-after=1');
    await gw.conn(1, 3000);
    const waited = performance.now() - t0;
    assert.ok(waited >= 1000, `reconnected after ${waited.toFixed(0)} ms`);
    assert.equal(ev.states.find((s) => s.state === 'closed')?.reconnectInMs, 1000);
  });

  test('an error frame retryAfterMs before a 4503 is honoured too', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw);
    client.connect();
    const conn = await gw.conn(0);
    await conn.take('hello');
    conn.send({ op: 'error', code: 'TACO_ERR_OVERLOADED', message: 'sign-in rate limit', retryAfterMs: 300 });
    const t0 = performance.now();
    conn.close(4503, 'ezone moved to bj');
    await gw.conn(1);
    assert.ok(performance.now() - t0 >= 300);
    const err = ev.errors[0]!;
    assert.deepEqual([err.code, err.fatal, err.retryAfterMs], ['TACO_ERR_OVERLOADED', false, 300]);
    assert.equal(ev.states.find((s) => s.state === 'closed')?.reconnectInMs, 300);
  });

  test('the backoff resets after a successful welcome', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { reconnect: { baseMs: 20, maxMs: 1000, jitter: 'none' } });
    client.connect();
    (await gw.conn(0)).close(4408, 'timeout'); // before welcome: attempt 0 → 20
    (await gw.conn(1)).close(4408, 'timeout'); // attempt 1 → 40
    await (await gw.conn(2)).accept({ reconnect: undefined });
    await until(() => client.state === 'open');
    gw.conns[2]!.terminate(); // after a welcome: back to attempt 0 → 20
    await gw.conn(3);
    const delays = ev.states.filter((s) => s.reconnectInMs !== undefined).map((s) => s.reconnectInMs);
    assert.deepEqual(delays, [20, 40, 20]);
  });
});

describe('TacoClient close()', () => {
  test('while open with heartbeat and pending upstream: no timer left, socket closed with 1000', async (t) => {
    const gw = await FakeGateway.start();
    const { client, timers, ev } = makeClient(t, gw, { heartbeatSec: 0.02, upAckTimeoutMs: 20 });
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    await until(() => client.state === 'open');
    const { acked } = client.send({ hi: 1 });
    await conn.take('ping');
    assert.ok(timers.live.size >= 2);
    client.close();
    assert.equal(timers.live.size, 0);
    assert.equal(await acked, false);
    assert.equal((await conn.closed).code, 1000);
    assert.deepEqual(ev.states.at(-1), { state: 'closed', code: 1000, reason: 'client closed' });
    client.close(); // idempotent
    assert.throws(() => client.connect(), { code: 'TACO_ERR_BAD_INPUT' });
  });

  test('while waiting to reconnect: the backoff timer is cleared', async (t) => {
    const gw = await FakeGateway.start();
    const { client, timers } = makeClient(t, gw, { reconnect: { baseMs: 60_000, jitter: 'none' } });
    client.connect();
    (await gw.conn(0)).terminate();
    await until(() => client.state === 'closed');
    assert.equal(timers.live.size, 1);
    client.close();
    assert.equal(timers.live.size, 0);
  });

  test('while connecting (token pending, socket opening): nothing survives', async (t) => {
    const gw = await FakeGateway.start();
    let release: (s: string) => void = () => {};
    const slowToken = () => new Promise<string>((r) => (release = r));
    const a = makeClient(t, gw, { token: slowToken });
    a.client.connect();
    a.client.close();
    release('late');
    const b = makeClient(t, gw);
    b.client.connect();
    b.client.close(); // socket still CONNECTING: aborted without an unhandled 'error'
    await sleep(50);
    assert.equal(a.timers.live.size + b.timers.live.size, 0);
    assert.equal(gw.conns.filter((c) => c.frames.length > 0).length, 0);
  });

  test('with real global timers the process can exit: nothing is left referenced', async () => {
    const gw = await FakeGateway.start();
    const client = new TacoClient({ url: gw.url, token: 't', platform: 'h5', WebSocket, heartbeatSec: 0.02 });
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    await until(() => client.state === 'open');
    client.send({ x: 1 });
    client.close();
    await gw.close();
    await sleep(20);
    // Only the handles node:test itself holds may remain: no Timeout, no socket of ours.
    const mine = (process as unknown as { getActiveResourcesInfo(): string[] })
      .getActiveResourcesInfo()
      .filter((r) => r === 'Timeout' || r === 'TCPSocketWrap' || r === 'TCPServerWrap');
    assert.deepEqual(mine, []);
  });

  test('constructor: no WebSocket, or a zero/NaN period, is a clear error', () => {
    assert.throws(
      () => new TacoClient({ url: 'ws://x', token: 't', platform: 'android', timers: new TrackedTimers() }),
      /no WebSocket/,
    );
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () =>
          new TacoClient({ url: 'ws://x', token: 't', platform: 'android', WebSocket, heartbeatSec: bad }),
        /heartbeatSec must be a positive number/,
      );
    }
  });
});
