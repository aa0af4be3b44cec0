import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeGateway, makeClient, sleep, until } from './harness.js';

describe('TacoClient session', () => {
  test('connects with subprotocol taco.v1, sends hello, opens on welcome', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { platform: 'ios', appState: 'background' });
    client.connect();
    const conn = await gw.conn(0);
    assert.equal(conn.protocol, 'taco.v1');
    const hello = await conn.take('hello');
    assert.deepEqual(hello, { op: 'hello', token: 'tok', platform: 'ios', appState: 'background' });
    assert.equal(client.state, 'connecting');
    conn.welcome({ session: '7.1' });
    await until(() => client.state === 'open');
    assert.equal(client.session, '7.1');
    assert.deepEqual(ev.states, [{ state: 'connecting' }, { state: 'open', session: '7.1' }]);
  });

  test('connect() is idempotent while connecting or open', async (t) => {
    const gw = await FakeGateway.start();
    const { client } = makeClient(t, gw);
    client.connect();
    client.connect();
    await (await gw.conn(0)).accept();
    await until(() => client.state === 'open');
    client.connect();
    await sleep(50);
    assert.equal(gw.conns.length, 1);
  });

  test('the token function is called for every attempt', async (t) => {
    const gw = await FakeGateway.start();
    let n = 0;
    const { client } = makeClient(t, gw, { token: async () => `tok-${++n}` });
    client.connect();
    assert.equal((await (await gw.conn(0)).accept()).token, 'tok-1');
    gw.conns[0]!.terminate();
    assert.equal((await (await gw.conn(1)).take('hello')).token, 'tok-2');
    assert.equal(client.state, 'connecting');
  });

  test('a failing token provider is reported and retried', async (t) => {
    const gw = await FakeGateway.start();
    let n = 0;
    const { client, ev } = makeClient(t, gw, {
      token: () => {
        if (++n === 1) throw new Error('auth server down');
        return 'fresh';
      },
    });
    client.connect();
    assert.equal((await (await gw.conn(0)).take('hello')).token, 'fresh');
    assert.equal(ev.errors[0]?.code, 'TACO_ERR_TOKEN_PROVIDER');
    assert.equal(ev.errors[0]?.fatal, false);
  });

  test('pings every heartbeat period (override) and stays open while pongs come', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { heartbeatSec: 0.03, pongTimeoutMs: 200 });
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    await until(() => conn.all('ping').length >= 4, 2000, '4 pings');
    assert.equal(client.state, 'open');
    assert.equal(gw.conns.length, 1);
    assert.equal(ev.states.filter((s) => s.state === 'closed').length, 0);
  });

  test('uses the welcome heartbeat when there is no override', async (t) => {
    const gw = await FakeGateway.start();
    const { client, timers } = makeClient(t, gw);
    client.connect();
    await (await gw.conn(0)).accept({ heartbeat: 42 });
    await until(() => client.state === 'open');
    assert.ok(timers.requestedMs.includes(42_000), `timers: ${timers.requestedMs}`);
  });

  test('no pong after a ping → the connection is dead → reconnect', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { heartbeatSec: 0.03, pongTimeoutMs: 60 });
    client.connect();
    const conn = await gw.conn(0);
    conn.autoPong = false;
    await conn.accept();
    await conn.take('ping');
    await gw.conn(1);
    const closed = ev.states.find((s) => s.state === 'closed');
    assert.equal(closed?.code, 4408);
    assert.equal(closed?.reconnectInMs, 0);
    assert.equal((await conn.closed).code, 1006, 'a dead socket is terminated, not closed politely');
    await (await gw.conn(1)).accept();
    await until(() => client.state === 'open');
  });

  test('no welcome within connectTimeoutMs → retry', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { connectTimeoutMs: 300 });
    client.connect();
    await (await gw.conn(0)).take('hello'); // and never answer
    await gw.conn(1);
    await until(() => client.state === 'connecting');
    assert.equal(ev.states.find((s) => s.state === 'closed')?.code, 4408);
  });

  test('config: emitted when newer, and its version goes into the next hello', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { configVersion: 3 });
    client.connect();
    const conn = await gw.conn(0);
    assert.equal((await conn.accept()).configVersion, 3);
    conn.send({ op: 'config', version: 2, data: { old: true } }); // not newer: ignored
    conn.send({ op: 'config', version: 5, data: { theme: 'dark' } });
    await until(() => ev.configs.length === 1);
    assert.deepEqual(ev.configs, [{ version: 5, data: { theme: 'dark' } }]);
    assert.equal(client.configVersion, 5);
    conn.terminate();
    assert.equal((await (await gw.conn(1)).take('hello')).configVersion, 5);
  });

  test('setAppState sends state when open; a change during sign-in is sent after welcome', async (t) => {
    const gw = await FakeGateway.start();
    const { client } = makeClient(t, gw);
    client.connect();
    const conn = await gw.conn(0);
    assert.equal((await conn.take('hello')).appState, 'foreground');
    client.setAppState('background'); // after hello, before welcome
    assert.equal(conn.all('state').length, 0, 'nothing but ping may precede the welcome');
    conn.welcome();
    assert.deepEqual(await conn.take('state'), { op: 'state', appState: 'background' });
    client.setAppState('background'); // unchanged: nothing sent
    client.setAppState('foreground');
    assert.deepEqual(await conn.take('state'), { op: 'state', appState: 'foreground' });
    await sleep(30);
    assert.equal(conn.all('state').length, 2);
  });

  test('register: sent when open and again after every reconnect', async (t) => {
    const gw = await FakeGateway.start();
    const { client } = makeClient(t, gw);
    client.register('fcm', 'fcm-token-1');
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    assert.deepEqual(await conn.take('register'), { op: 'register', channel: 'fcm', token: 'fcm-token-1' });
    client.register('fcm', 'fcm-token-2');
    assert.equal((await conn.take('register')).token, 'fcm-token-2');
    conn.terminate();
    const conn2 = await gw.conn(1);
    await conn2.accept();
    assert.equal((await conn2.take('register')).token, 'fcm-token-2');
  });

  test('bad server frames are reported and ignored; the session goes on', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw);
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    conn.sendRaw('{not json');
    conn.send({ op: 'push', kind: 'passthrough', ts: 1 }); // no id
    conn.send({ op: 'from-the-future', x: 1 }); // unknown op: silently ignored
    conn.send({ op: 'push', id: '9', kind: 'passthrough', ts: 1 });
    await until(() => ev.messages.length === 1 && conn.all('ack').length === 1);
    assert.deepEqual(
      ev.errors.map((e) => e.code),
      ['TACO_ERR_BAD_FRAME', 'TACO_ERR_BAD_FRAME'],
    );
    assert.deepEqual(conn.all('ack'), [{ op: 'ack', id: '9', status: 'received' }]);
    assert.equal(client.state, 'open');
  });
});
