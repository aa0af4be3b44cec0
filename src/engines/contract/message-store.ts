/** The MessageStore contract (src/core/ports.ts), as tests any implementation must pass. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MessageRecord, MessageStore } from '../../core/ports.js';
import { canTransition, MESSAGE_STATUSES, type MessageStatus } from '../../core/status.js';
import { type ContractOptions, type Factory, newMessageId, type Subject, uniq } from './harness.js';

const T0 = 1_750_000_000_000;

function message(app: string, device: string, over: Partial<MessageRecord> = {}): MessageRecord {
  const createdAt = over.createdAt ?? T0;
  return {
    id: newMessageId(),
    app,
    device,
    kind: 'notification',
    title: 'hello',
    body: 'world',
    data: { n: 1, nested: { ok: true } },
    priority: 'normal',
    createdAt,
    expiresAt: createdAt + 60_000,
    status: 'accepted',
    channel: null,
    history: [{ status: 'accepted', at: createdAt }],
    ...over,
  };
}

const rank = (s: MessageStatus) => MESSAGE_STATUSES.filter((t) => canTransition(t, s)).length;

export function messageStoreContract(
  name: string,
  factory: Factory<MessageStore>,
  opts: ContractOptions = {},
): void {
  describe(`MessageStore contract: ${name}`, { skip: opts.skip, timeout: opts.timeoutMs ?? 60_000 }, () => {
    let s: Subject<MessageStore>;
    let store: MessageStore;
    before(async () => {
      s = await factory();
      store = s.subject;
    });
    after(async () => s?.cleanup());

    test('create then get returns the message', async () => {
      const m = message(uniq('app'), 'd');
      await store.create(m);
      const got = await store.get(m.id);
      assert.deepEqual(got, m);
    });

    test('optional fields stay absent', async () => {
      const m = message(uniq('app'), 'd', {
        title: undefined,
        body: undefined,
        data: undefined,
        kind: 'passthrough',
      });
      delete m.title;
      delete m.body;
      delete m.data;
      await store.create(m);
      assert.deepEqual(await store.get(m.id), m);
    });

    test('get and transition of an unknown id', async () => {
      const id = newMessageId();
      assert.equal(await store.get(id), undefined);
      assert.equal(await store.transition(id, 'queued', T0), false);
    });

    test('create is idempotent by id', async () => {
      const m = message(uniq('app'), 'd');
      await store.create(m);
      await store.create({ ...m, title: 'changed', history: [] });
      assert.equal((await store.get(m.id))?.title, 'hello');
      assert.equal((await store.get(m.id))?.history.length, 1);
    });

    test('transition applies forward moves with history and refuses backward ones', async () => {
      const m = message(uniq('app'), 'd');
      await store.create(m);
      assert.equal(await store.transition(m.id, 'queued', T0 + 1), true);
      assert.equal(await store.transition(m.id, 'sent', T0 + 2, 'ws'), true);
      assert.equal(await store.transition(m.id, 'queued', T0 + 3), false);
      assert.equal(await store.transition(m.id, 'delivered', T0 + 4), true);
      assert.equal(
        await store.transition(m.id, 'expired', T0 + 5),
        false,
        'nothing moves a delivered message back',
      );
      const got = await store.get(m.id);
      assert.equal(got?.status, 'delivered');
      assert.equal(got?.channel, 'ws', 'a transition without a channel keeps it');
      assert.deepEqual(
        got?.history.map((h) => [h.status, h.at]),
        [
          ['accepted', T0],
          ['queued', T0 + 1],
          ['sent', T0 + 2],
          ['delivered', T0 + 4],
        ],
      );
    });

    test('a late ACK turns expired or fallback into delivered', async () => {
      for (const settled of ['expired', 'fallback'] as const) {
        const m = message(uniq('app'), 'd');
        await store.create(m);
        assert.equal(
          await store.transition(m.id, settled, T0 + 1, settled === 'fallback' ? 'fcm' : undefined),
          true,
        );
        assert.equal(await store.transition(m.id, 'delivered', T0 + 2), true);
        const got = await store.get(m.id);
        assert.equal(got?.status, 'delivered');
        if (settled === 'fallback') assert.equal(got?.channel, 'fcm');
      }
    });

    test('a repeated sent is recorded in history but is not a change', async () => {
      const m = message(uniq('app'), 'd');
      await store.create(m);
      assert.equal(await store.transition(m.id, 'sent', T0 + 1, 'ws'), true);
      assert.equal(await store.transition(m.id, 'sent', T0 + 2, 'ws'), false);
      const got = await store.get(m.id);
      assert.deepEqual(
        got?.history.map((h) => h.status),
        ['accepted', 'sent', 'sent'],
      );
    });

    test('concurrent transitions only ever move up, each change recorded once', async () => {
      const m = message(uniq('app'), 'd');
      await store.create(m);
      const moves: MessageStatus[] = [
        'queued',
        'sent',
        'delivered',
        'displayed',
        'opened',
        'expired',
        'queued',
      ];
      const results = await Promise.all(moves.map((st, i) => store.transition(m.id, st, T0 + 10 + i)));
      const got = (await store.get(m.id))!;
      assert.equal(got.status, 'opened');
      const changes = got.history.slice(1).map((h) => h.status);
      assert.equal(changes.length, results.filter(Boolean).length);
      for (let i = 1; i < changes.length; i++)
        assert.ok(
          rank(changes[i]!) > rank(changes[i - 1]!),
          `history must only move up: ${changes.join(' → ')}`,
        );
    });

    test('pendingFor returns unexpired undelivered messages of the device, oldest first, up to the limit', async () => {
      const app = uniq('app');
      const ms = [3, 1, 2, 4, 5].map((k) => message(app, 'd', { createdAt: T0 + k * 1000 }));
      for (const m of ms) await store.create(m);
      await store.create(message(app, 'other-device'));
      await store.create(message(uniq('app'), 'd'));
      const expiring = message(app, 'd', { createdAt: T0 - 59_000 }); // expires at T0 + 1000
      await store.create(expiring);
      await store.transition(ms[3]!.id, 'delivered', T0 + 9_000); // createdAt T0+4000: delivered, not pending
      await store.transition(ms[4]!.id, 'fallback', T0 + 9_000, 'apns'); // fallback is still pending
      const now = T0 + 1_500;
      const pending = await store.pendingFor(app, 'd', now, 10);
      assert.deepEqual(
        pending.map((p) => p.createdAt),
        [T0 + 1000, T0 + 2000, T0 + 3000, T0 + 5000],
      );
      const two = await store.pendingFor(app, 'd', now, 2);
      assert.equal(two.length, 2);
      assert.ok(two[0]!.createdAt <= two[1]!.createdAt, 'oldest first');
    });

    test('expireDue expires due undelivered messages once and returns their ids', async () => {
      const app = uniq('app');
      // Far in the future, so messages of other tests are never due at `now`.
      const base = T0 + 10 * 365 * 86_400_000 + Math.floor(Math.random() * 1e9);
      const due1 = message(app, 'd', { createdAt: base, expiresAt: base + 100 });
      const due2 = message(app, 'd', { createdAt: base, expiresAt: base + 200 });
      const delivered = message(app, 'd', { createdAt: base, expiresAt: base + 100 });
      const later = message(app, 'd', { createdAt: base, expiresAt: base + 10_000 });
      for (const m of [due1, due2, delivered, later]) await store.create(m);
      await store.transition(delivered.id, 'delivered', base + 50);
      const now = base + 500;
      const ids = await store.expireDue(now, 10_000);
      assert.ok(ids.includes(due1.id) && ids.includes(due2.id), `expired ${ids.join()}`);
      assert.ok(!ids.includes(delivered.id) && !ids.includes(later.id));
      assert.equal((await store.get(due1.id))?.status, 'expired');
      assert.deepEqual((await store.get(due1.id))?.history.at(-1), { status: 'expired', at: now });
      assert.equal((await store.get(delivered.id))?.status, 'delivered');
      assert.equal((await store.get(later.id))?.status, 'accepted');
      const again = await store.expireDue(now, 10_000);
      assert.ok(!again.includes(due1.id) && !again.includes(due2.id), 'each message expires once');
      assert.deepEqual(
        (await store.pendingFor(app, 'd', now, 10)).map((m) => m.id),
        [later.id],
      );
    });

    test('rememberIdempotency keeps the first ids of a key, per app', async () => {
      const app = uniq('app');
      assert.deepEqual(await store.rememberIdempotency(app, 'k1', ['1', '2'], T0), ['1', '2']);
      assert.deepEqual(await store.rememberIdempotency(app, 'k1', ['3'], T0 + 1), ['1', '2']);
      assert.deepEqual(await store.rememberIdempotency(uniq('app'), 'k1', ['4'], T0 + 1), ['4']);
      const racers = await Promise.all(
        ['5', '6', '7'].map((id) => store.rememberIdempotency(app, 'k2', [id], T0 + 2)),
      );
      assert.equal(new Set(racers.map((r) => r.join())).size, 1, 'concurrent callers all get the winner');
    });

    test('channels: registration per device and channel, the latest token wins', async () => {
      const app = uniq('app');
      await store.registerChannel(app, 'd', 'apns', 'tok-1');
      await store.registerChannel(app, 'd', 'fcm', 'tok-2');
      await store.registerChannel(app, 'd', 'apns', 'tok-3');
      const chans = await store.channelsOf(app, 'd');
      assert.deepEqual(
        [...chans].sort((a, b) => a.channel.localeCompare(b.channel)),
        [
          { channel: 'apns', token: 'tok-3' },
          { channel: 'fcm', token: 'tok-2' },
        ],
      );
      assert.deepEqual(await store.channelsOf(app, 'other'), []);
    });

    test('config versions count up per app and platform', async () => {
      const app = uniq('app');
      assert.equal(await store.getConfig(app, 'ios'), undefined);
      assert.equal(await store.setConfig(app, 'ios', { a: 1 }), 1);
      assert.equal(await store.setConfig(app, 'ios', { a: 2 }), 2);
      assert.equal(await store.setConfig(app, 'android', { b: 1 }), 1);
      assert.deepEqual(await store.getConfig(app, 'ios'), { version: 2, data: { a: 2 } });
      const vs = await Promise.all([1, 2, 3, 4].map((i) => store.setConfig(app, 'h5', { i })));
      assert.deepEqual([...vs].sort(), [1, 2, 3, 4], 'concurrent writers get distinct versions');
    });
  });
}
