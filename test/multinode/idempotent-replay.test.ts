// What test/multinode/sigkill.test.ts found, pinned down on the core with embedded engines: a node
// killed while accepting a push with an idempotency key can leave the key stored but its messages
// not created (the retry on another node answered ids that were 404 for ever), or created but
// never queued (they sat in `queued` until `expired`). The retry must finish that work — once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeMsgId } from '../../src/core/msgid.js';
import type { MessageRecord } from '../../src/core/ports.js';
import { APP, CoreHarness } from '../helpers/core-harness.js';

const mint = (h: CoreHarness, seq: number) =>
  encodeMsgId({ timeMs: h.now() - 1_000, shard: 0, node: 9, seq });

describe('an idempotency key replayed after its first request died half-way', () => {
  test('key stored, messages never created: the replay creates and delivers them', async () => {
    const h = await CoreHarness.create();
    const d1 = await h.signIn('d1');
    const d2 = await h.signIn('d2');
    const ids = [mint(h, 1), mint(h, 2)];
    // The first request (on a node that then died) got as far as remembering the key.
    await h.messages.rememberIdempotency(APP, 'k-dead', ids, h.now() - 1_000);

    const again = await h.push({ to: { devices: ['d1', 'd2'] }, ttl: 600, idempotencyKey: 'k-dead' });
    assert.deepEqual(again, ids, 'the same answer as the first request');
    await h.advance(100);
    assert.deepEqual(
      d1.conn.pushes().map((p) => p.id),
      [ids[0]],
    );
    assert.deepEqual(
      d2.conn.pushes().map((p) => p.id),
      [ids[1]],
    );
    const rec = await h.status(ids[0]!);
    assert.equal(rec.device, 'd1');
    // The TTL counts from the first request's acceptance, which the id carries.
    assert.equal(rec.createdAt, h.now() - 1_100);
    assert.equal(rec.expiresAt, rec.createdAt + 600_000);
    h.ack(d1, ids[0]!);
    h.ack(d2, ids[1]!);
    await h.settle();
    assert.equal((await h.status(ids[0]!)).status, 'delivered');
    assert.equal((await h.status(ids[1]!)).status, 'delivered');

    // A third try finds everything done: nothing is sent again.
    await h.push({ to: { devices: ['d1', 'd2'] }, ttl: 600, idempotencyKey: 'k-dead' });
    await h.advance(100);
    assert.equal(d1.conn.pushes().length, 1);
    assert.equal(d2.conn.pushes().length, 1);
    await h.stop();
  });

  test('message created (accepted or queued) but its job never published: the replay queues it', async () => {
    const h = await CoreHarness.create();
    const d1 = await h.signIn('d1');
    const d2 = await h.signIn('d2');
    const ids = [mint(h, 3), mint(h, 4)];
    await h.messages.rememberIdempotency(APP, 'k-half', ids, h.now() - 1_000);
    const base = (id: string, device: string): MessageRecord => ({
      id,
      app: APP,
      device,
      kind: 'notification',
      title: 't',
      body: 'b',
      priority: 'normal',
      createdAt: h.now() - 1_000,
      expiresAt: h.now() + 600_000,
      status: 'accepted',
      channel: null,
      history: [{ status: 'accepted', at: h.now() - 1_000 }],
    });
    await h.messages.create(base(ids[0]!, 'd1'));
    await h.messages.create(base(ids[1]!, 'd2'));
    await h.messages.transition(ids[1]!, 'queued', h.now() - 900);

    await h.push({ to: { devices: ['d1', 'd2'] }, ttl: 600, idempotencyKey: 'k-half' });
    await h.advance(100);
    assert.deepEqual(
      d1.conn.pushes().map((p) => p.id),
      [ids[0]],
    );
    assert.deepEqual(
      d2.conn.pushes().map((p) => p.id),
      [ids[1]],
    );
    assert.deepEqual(
      (await h.status(ids[0]!)).history.map((x) => x.status),
      ['accepted', 'queued', 'sent'],
    );
    await h.stop();
  });

  test('a replay of a request that completed sends nothing again', async () => {
    const h = await CoreHarness.create();
    const d1 = await h.signIn('d1');
    const a = await h.push({ to: { devices: ['d1'] }, ttl: 600, idempotencyKey: 'k-ok' });
    await h.advance(100);
    const b = await h.push({ to: { devices: ['d1'] }, ttl: 600, idempotencyKey: 'k-ok' });
    await h.advance(100);
    assert.deepEqual(b, a);
    assert.equal(d1.conn.pushes().length, 1);
    await h.stop();
  });
});
