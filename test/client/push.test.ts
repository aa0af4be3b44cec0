import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PushFrame } from '../../src/core/protocol.js';
import { type FakeConn, FakeGateway, makeClient, sleep, until } from './harness.js';

const note = (id: string, extra: Partial<PushFrame> = {}): PushFrame => ({
  op: 'push',
  id,
  kind: 'notification',
  title: 'Hi',
  body: 'there',
  data: { deep: 'link' },
  ts: 1,
  ...extra,
});

async function openClient(t: Parameters<typeof makeClient>[0], appState: 'foreground' | 'background') {
  const gw = await FakeGateway.start();
  const made = makeClient(t, gw, { appState });
  made.client.connect();
  const conn: FakeConn = await gw.conn(0);
  await conn.accept();
  await until(() => made.client.state === 'open');
  return { gw, conn, ...made };
}

describe('TacoClient pushes', () => {
  test('ACKs received for every copy; the same id twice gives one event', async (t) => {
    const { conn, ev } = await openClient(t, 'background');
    conn.send(note('100'));
    conn.send(note('100'));
    conn.send(note('101'));
    await until(() => conn.all('ack').length === 3);
    assert.deepEqual(conn.all('ack'), [
      { op: 'ack', id: '100', status: 'received' },
      { op: 'ack', id: '100', status: 'received' },
      { op: 'ack', id: '101', status: 'received' },
    ]);
    assert.deepEqual(
      ev.notifications.map(([p, via]) => [p.id, via]),
      [
        ['100', 'socket'],
        ['101', 'socket'],
      ],
    );
    assert.deepEqual(ev.notifications[0]![0], note('100'));
    assert.equal(ev.messages.length, 0);
  });

  test('display rules: background notification → notification; foreground or passthrough → message', async (t) => {
    const { client, conn, ev } = await openClient(t, 'background');
    conn.send(note('1'));
    conn.send(note('2', { kind: 'passthrough' }));
    await until(() => ev.notifications.length + ev.messages.length === 2);
    client.setAppState('foreground');
    conn.send(note('3'));
    conn.send(note('4', { kind: 'passthrough' }));
    await until(() => ev.notifications.length + ev.messages.length === 4);
    assert.deepEqual(
      ev.notifications.map(([p]) => p.id),
      ['1'],
    );
    assert.deepEqual(
      ev.messages.map(([p]) => p.id),
      ['2', '3', '4'],
    );
  });

  test('displayed() and opened() send those ACKs', async (t) => {
    const { client, conn, ev } = await openClient(t, 'background');
    conn.send(note('55'));
    await until(() => ev.notifications.length === 1);
    client.displayed('55');
    client.opened('55');
    await until(() => conn.all('ack').length === 3);
    assert.deepEqual(
      conn.all('ack').map((a) => a.status),
      ['received', 'displayed', 'opened'],
    );
    assert.throws(() => client.opened(''), { code: 'TACO_ERR_BAD_INPUT' });
  });

  test('ACKs made while disconnected are sent after the next welcome; lastAck is in the hello', async (t) => {
    const { gw, client, conn, ev } = await openClient(t, 'background');
    conn.send(note('77'));
    await until(() => ev.notifications.length === 1);
    conn.close(4503, 'node draining'); // reconnect, random 0 → at once
    await until(() => client.state !== 'open');
    client.opened('77'); // the user taps while the SDK reconnects
    const conn2 = await gw.conn(1);
    const hello = await conn2.take('hello');
    assert.equal(hello.lastAck, '77');
    assert.equal(conn2.all('ack').length, 0, 'no ACK before the welcome');
    conn2.welcome();
    assert.deepEqual(await conn2.take('ack'), { op: 'ack', id: '77', status: 'opened' });
  });

  test('a redelivered copy after a reconnect is ACKed again but not shown again', async (t) => {
    const { gw, conn, ev } = await openClient(t, 'background');
    conn.send(note('88'));
    await conn.take('ack');
    conn.terminate();
    const conn2 = await gw.conn(1);
    await conn2.accept();
    conn2.send(note('88'));
    assert.deepEqual(await conn2.take('ack'), { op: 'ack', id: '88', status: 'received' });
    await sleep(20);
    assert.equal(ev.notifications.length, 1);
  });

  test('ingest(): a third-party copy dedups against the socket and is ACKed', async (t) => {
    const { client, conn, ev } = await openClient(t, 'background');
    conn.send(note('300'));
    await until(() => ev.notifications.length === 1);
    assert.equal(client.ingest(note('300'), 'fcm'), false, 'already came over the socket');
    assert.equal(client.ingest(note('301', { kind: 'passthrough' }), 'apns'), true);
    await until(() => conn.all('ack').length === 3);
    assert.deepEqual(
      conn.all('ack').map((a) => a.id),
      ['300', '300', '301'],
    );
    assert.deepEqual(
      ev.messages.map(([p, via]) => [p.id, via]),
      [['301', 'apns']],
    );
    conn.send(note('301', { kind: 'passthrough' })); // and the socket copy of the third-party one
    await until(() => conn.all('ack').length === 4);
    assert.equal(ev.messages.length, 1);
  });
});
