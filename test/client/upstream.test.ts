import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_FRAME_BYTES } from '../../src/core/protocol.js';
import { FakeGateway, makeClient, sleep, until } from './harness.js';

describe('TacoClient upstream', () => {
  test('resent until up.ack, then never again', async (t) => {
    const gw = await FakeGateway.start();
    const { client } = makeClient(t, gw, { upAckTimeoutMs: 30 });
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    await until(() => client.state === 'open');
    const h = client.send({ text: 'hello' });
    const first = await conn.take('up');
    assert.deepEqual(first, { op: 'up', id: h.id, data: { text: 'hello' } });
    const again = await conn.take('up'); // not acked: sent again after 1–2 periods
    assert.deepEqual(again, first);
    conn.send({ op: 'up.ack', id: h.id });
    assert.equal(await h.acked, true);
    assert.equal(client.pendingUpstream, 0);
    const n = conn.all('up').length;
    await sleep(120);
    assert.equal(conn.all('up').length, n, 'no resend after up.ack');
    conn.send({ op: 'up.ack', id: h.id }); // a late duplicate ack is harmless
  });

  test('sent while disconnected: queued, delivered after the welcome, and again after a drop', async (t) => {
    const gw = await FakeGateway.start();
    const { client } = makeClient(t, gw, { upAckTimeoutMs: 10_000 });
    const a = client.send({ n: 1 }, { id: 'my-id-1' });
    const b = client.send({ n: 2 });
    assert.notEqual(a.id, b.id);
    client.connect();
    const conn = await gw.conn(0);
    await conn.take('hello');
    await sleep(20);
    assert.equal(conn.all('up').length, 0, 'nothing but ping before the welcome');
    conn.welcome();
    assert.equal((await conn.take('up')).id, 'my-id-1');
    assert.equal((await conn.take('up')).id, b.id);
    conn.send({ op: 'up.ack', id: 'my-id-1' });
    assert.equal(await a.acked, true);
    conn.terminate(); // b is lost with the connection (at least once: it goes again)
    const conn2 = await gw.conn(1);
    await conn2.accept();
    assert.deepEqual(await conn2.take('up'), { op: 'up', id: b.id, data: { n: 2 } });
    conn2.send({ op: 'up.ack', id: b.id });
    assert.equal(await b.acked, true);
  });

  test('an error frame for an upstream leaves it pending; it is resent', async (t) => {
    const gw = await FakeGateway.start();
    const { client, ev } = makeClient(t, gw, { upAckTimeoutMs: 30 });
    client.connect();
    const conn = await gw.conn(0);
    await conn.accept();
    await until(() => client.state === 'open');
    const h = client.send({ q: 1 });
    await conn.take('up');
    conn.send({ op: 'error', code: 'TACO_ERR_ENGINE_UNAVAILABLE', message: `upstream ${h.id} not queued` });
    await conn.take('up');
    conn.send({ op: 'up.ack', id: h.id });
    assert.equal(await h.acked, true);
    assert.equal(ev.errors[0]?.code, 'TACO_ERR_ENGINE_UNAVAILABLE');
    assert.equal(client.state, 'open');
  });

  test('rejects what the server would reject forever, and bounds the outbox', async (t) => {
    const gw = await FakeGateway.start();
    const { client } = makeClient(t, gw, { maxPendingUpstream: 2 });
    assert.throws(() => client.send({ big: 'x'.repeat(MAX_FRAME_BYTES) }), {
      code: 'TACO_ERR_FRAME_TOO_LARGE',
    });
    assert.throws(() => client.send([] as never), { code: 'TACO_ERR_BAD_INPUT' });
    assert.throws(() => client.send({ n: 1n } as never), { code: 'TACO_ERR_BAD_INPUT' });
    assert.throws(() => client.send({}, { id: 'x'.repeat(129) }), { code: 'TACO_ERR_BAD_INPUT' });
    client.send({}, { id: 'a' });
    assert.throws(() => client.send({}, { id: 'a' }), { code: 'TACO_ERR_BAD_INPUT' });
    client.send({});
    assert.throws(() => client.send({}), { code: 'TACO_ERR_OUTBOX_FULL' });
    assert.equal(client.pendingUpstream, 2);
  });
});
