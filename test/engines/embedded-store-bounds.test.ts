// The embedded message store's memory bounds: settled messages packed and capped, pending ones
// capped with a clear refusal, the expiry heap rebuilt instead of growing with every message.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { TacoError } from '../../src/core/errors.js';
import type { MessageRecord } from '../../src/core/ports.js';
import { MESSAGE_STATUSES } from '../../src/core/status.js';
import { MemoryMessageStore } from '../../src/engines/embedded/message-store.js';
import { packSettled, unpackSettled } from '../../src/engines/embedded/settled-message.js';
import { CoreHarness, FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

const T0 = 1_764_000_000_000;
function rec(id: string, over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id,
    app: 'demo',
    device: `dev-${id}`,
    kind: 'passthrough',
    priority: 'normal',
    createdAt: T0,
    expiresAt: T0 + 60_000,
    status: 'accepted',
    channel: null,
    history: [{ status: 'accepted', at: T0 }],
    data: { big: 'x'.repeat(100) },
    ...over,
  };
}

async function deliver(s: MemoryMessageStore, id: string, at: number) {
  await s.transition(id, 'queued', at);
  await s.transition(id, 'sent', at + 1, 'ws');
  await s.transition(id, 'delivered', at + 2);
}

describe('a settled message packed', () => {
  const time = fc.oneof(
    fc.integer({ min: -1e13, max: 1e13 }),
    // -0 comes back as 0: no clock gives it.
    fc.double({ noNaN: true, min: -1e13, max: 1e13 }).map((x) => (x === 0 ? 0 : x)),
  );
  const id = fc.string({ minLength: 1, maxLength: 40 });
  const status = fc.constantFrom(...MESSAGE_STATUSES);
  const record = fc.record({
    id,
    app: id,
    device: id,
    kind: fc.constantFrom('passthrough' as const, 'notification' as const),
    priority: fc.constantFrom('high' as const, 'normal' as const, 'low' as const),
    createdAt: time,
    expiresAt: time,
    status,
    channel: fc.constantFrom('ws' as const, 'apns' as const, 'fcm' as const, null),
    history: fc.array(
      fc.record({ status, at: time }).map((h) => ({ ...h })),
      { maxLength: 8 },
    ),
  });

  test('unpacks to the same record, payload aside (property)', () => {
    fc.assert(
      fc.property(record, (r) => {
        assert.deepEqual(unpackSettled(r.id, packSettled({ ...r, data: { x: 1 }, title: 't' })), { ...r });
      }),
    );
  });

  test('GET after delivery has status and history, not the payload; a later ACK still moves it', async () => {
    const s = new MemoryMessageStore();
    await s.create(rec('m1'));
    await deliver(s, 'm1', T0);
    const got = await s.get('m1');
    assert.equal(got?.status, 'delivered');
    assert.equal(got?.channel, 'ws');
    assert.deepEqual(
      got?.history.map((h) => [h.status, h.at - T0]),
      [
        ['accepted', 0],
        ['queued', 0],
        ['sent', 1],
        ['delivered', 2],
      ],
    );
    assert.equal(got?.data, undefined, 'the payload is not kept once settled');
    assert.equal(await s.transition('m1', 'displayed', T0 + 10), true);
    assert.equal(await s.transition('m1', 'delivered', T0 + 11), false, 'never back');
    assert.deepEqual(
      (await s.get('m1'))?.history.map((h) => h.status),
      ['accepted', 'queued', 'sent', 'delivered', 'displayed'],
    );
    assert.equal(s.unsettledSize, 0);
  });
});

describe('embedded store bounds', () => {
  test('past maxSettled the oldest settled messages go first; pending ones stay', async () => {
    const s = new MemoryMessageStore({ maxSettled: 3 });
    await s.create(rec('pending'));
    for (let i = 0; i < 5; i++) {
      await s.create(rec(`m${i}`));
      await deliver(s, `m${i}`, T0 + i * 10);
    }
    const kept = [];
    for (let i = 0; i < 5; i++) if (await s.get(`m${i}`)) kept.push(i);
    assert.deepEqual(kept, [2, 3, 4]);
    assert.equal((await s.get('pending'))?.status, 'accepted');
    assert.equal(s.size, 4);
  });

  test('past maxUnsettled a new message is refused with OVERLOADED, and one settling makes room', async () => {
    const s = new MemoryMessageStore({ maxUnsettled: 2 });
    await s.create(rec('a'));
    await s.create(rec('b'));
    await assert.rejects(s.create(rec('c')), (e: TacoError) => {
      assert.equal(e.code, 'OVERLOADED');
      assert.match(e.message, /2 messages are waiting for delivery.*maxUnsettled/);
      return true;
    });
    assert.equal(await s.get('c'), undefined, 'nothing half-created');
    await s.create(rec('a')); // idempotent create of a known id is not refused
    await deliver(s, 'a', T0);
    await s.create(rec('c'));
    assert.equal(s.unsettledSize, 2);
  });

  test('expired and fallback messages leave the pending count too', async () => {
    const s = new MemoryMessageStore({ maxUnsettled: 2 });
    await s.create(rec('e', { expiresAt: T0 + 5 }));
    await s.create(rec('f', { expiresAt: T0 + 5 }));
    await s.transition('f', 'fallback', T0 + 1, 'apns');
    assert.deepEqual(await s.expireDue(T0 + 10, 100), ['e']);
    assert.equal(s.unsettledSize, 0);
    // A late ACK of the retired fallback message is still a delivery, and counts nothing twice.
    assert.equal(await s.transition('f', 'delivered', T0 + 20), true);
    assert.equal(s.unsettledSize, 0);
    await s.create(rec('g'));
    await s.create(rec('h'));
    assert.equal(s.unsettledSize, 2);
  });

  test('the expiry heap is rebuilt once settled entries outnumber pending ones', async () => {
    const s = new MemoryMessageStore({ retentionMs: 1 });
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      await s.create(rec(`m${i}`, { expiresAt: T0 + 3_600_000 }));
      await s.transition(`m${i}`, 'delivered', T0);
    }
    await s.create(rec('late', { expiresAt: T0 + 1_000 }));
    assert.ok(s.expiryHeapSize <= 2 * s.unsettledSize + 65_536 + 1, `heap ${s.expiryHeapSize}`);
    assert.deepEqual(await s.expireDue(T0 + 2_000, 10), ['late'], 'the pending one still expires');
  });
});

describe('retained segments', () => {
  test('a settled message stays readable for its retention, and goes with its segment after', async () => {
    const s = new MemoryMessageStore({ retentionMs: 1_000 });
    await s.create(rec('m'));
    await deliver(s, 'm', T0);
    await s.expireDue(T0 + 999, 10);
    assert.equal((await s.get('m'))?.status, 'delivered', 'kept until the retention ends');
    await s.expireDue(T0 + 1_002, 10);
    assert.equal(await s.get('m'), undefined, 'gone after it');
    assert.equal(s.size, 0);
  });

  test('a later status of a retained message does not restart its retention or keep it twice', async () => {
    const s = new MemoryMessageStore({ retentionMs: 1_000 });
    await s.create(rec('f', { expiresAt: T0 + 5 }));
    await s.transition('f', 'fallback', T0 + 1, 'apns');
    await s.expireDue(T0 + 10, 10); // retired: no longer pending, kept as a record
    assert.equal(await s.transition('f', 'delivered', T0 + 500), true);
    assert.equal(await s.transition('f', 'opened', T0 + 600), true);
    assert.equal(s.size, 1);
    assert.deepEqual(
      (await s.get('f'))?.history.map((h) => h.status),
      ['accepted', 'fallback', 'delivered', 'opened'],
    );
    await s.expireDue(T0 + 1_011, 10);
    assert.equal(await s.get('f'), undefined, 'its retention counted from when it was retired');
  });
});

describe('a full embedded store seen through the dispatcher', () => {
  test('a push past maxUnsettled is refused with OVERLOADED and nothing is queued; a delivery makes room', async () => {
    const h = await CoreHarness.create({ seed: 3, messageStore: { maxUnsettled: 1 } });
    try {
      // Offline devices: their messages stay pending.
      const [first] = await h.push({ to: { devices: ['off-1'] } });
      await assert.rejects(h.push({ to: { devices: ['off-2'] } }), (e: TacoError) => {
        assert.equal(e.code, 'OVERLOADED');
        assert.equal(e.httpStatus, 503);
        return true;
      });
      assert.equal(h.messages.size, 1, 'the refused push left nothing behind');
      assert.equal(h.telemetry.counts.get('push.accepted'), 1);
      // The first device signs in, gets its message and ACKs it: room for one more.
      const c = await h.signIn('off-1');
      h.ack(c, first!);
      await h.settle();
      assert.equal((await h.status(first!)).status, 'delivered');
      await h.push({ to: { devices: ['off-2'] } });
      assert.equal(h.telemetry.counts.get('push.accepted'), 2);
    } finally {
      await h.stop();
    }
  });
});
