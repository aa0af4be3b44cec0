import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Scheduler } from '../../src/core/clock.js';
import { PRIORITY_LEVEL, SHARED_PUSH_QUEUE } from '../../src/core/dispatcher.js';
import { decodeMsgId } from '../../src/core/msgid.js';
import type { DeliverRequest, DeliverResult, PeerRpc, PushJob } from '../../src/core/ports.js';
import { shardOf } from '../../src/core/shard.js';
import { APP, APP2, CoreHarness } from '../helpers/core-harness.js';

const statuses = (r: { history: { status: string }[] }) => r.history.map((x) => x.status);

async function jobOf(h: CoreHarness, id: string): Promise<PushJob> {
  const r = await h.status(id);
  return { id, app: r.app, device: r.device, priority: r.priority, expiresAt: r.expiresAt, attempt: 0 };
}

describe('dispatcher: delivery and ACK', () => {
  test('push to an online device → frame; ACK → delivered with history [accepted, queued, sent, delivered]', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    await h.advance(1_000);
    const t = h.now();
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 60, data: { k: 1 } });
    assert.ok(id);
    assert.deepEqual(c.conn.pushes(), [
      { op: 'push', id, kind: 'notification', title: 't', body: 'b', data: { k: 1 }, ts: t },
    ]);
    assert.equal(h.dispatcher.pendingAcks, 1);
    await h.advance(500);
    h.ack(c, id);
    await h.settle();
    const r = await h.status(id);
    assert.equal(r.status, 'delivered');
    assert.equal(r.channel, 'ws');
    assert.deepEqual(r.history, [
      { status: 'accepted', at: t },
      { status: 'queued', at: t },
      { status: 'sent', at: t },
      { status: 'delivered', at: t + 500 },
    ]);
    assert.equal(r.expiresAt, t + 60_000);
    assert.equal(h.dispatcher.pendingAcks, 0);
    assert.equal(h.telemetry.c('push.delivered'), 1);
    assert.deepEqual(h.telemetry.observations.get('push.latency'), [500]);
    // Nothing is retried after the ACK.
    await h.advance(70_000);
    h.ping(c);
    assert.equal(c.conn.pushes().length, 1);
    assert.equal((await h.status(id)).status, 'delivered');
    await h.stop();
  });

  test('displayed / opened ACKs move forward only; a repeated or older ACK changes nothing', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 60 });
    h.ack(c, id!, 'opened');
    await h.settle();
    let r = await h.status(id!);
    assert.equal(r.status, 'opened');
    assert.deepEqual(statuses(r), ['accepted', 'queued', 'sent', 'delivered', 'opened']);
    h.ack(c, id!, 'received');
    h.ack(c, id!, 'displayed');
    h.ack(c, id!, 'opened');
    await h.settle();
    r = await h.status(id!);
    assert.equal(r.status, 'opened');
    assert.equal(r.history.length, 5);
    assert.equal(h.telemetry.c('push.delivered'), 1);
    await h.stop();
  });

  test('no ACK → retries with backoff (ack timeout + full-jitter delay) until TTL, then expired', async () => {
    const cfg = { ackTimeoutMs: 10_000, retryBaseMs: 2_000, retryMaxMs: 60_000, expirySweepMs: 1_000 };
    const h = await CoreHarness.create({ config: { dispatch: cfg } });
    const c = await h.signIn('d1');
    const keepAlive = h.clock.setInterval(() => h.ping(c), 30_000);
    const t = h.now();
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 300 });
    await h.advance(310_000);
    keepAlive.cancel();
    const times = c.conn.pushTimes(id);
    assert.equal(times[0], t);
    assert.ok(times.length >= 5, `only ${times.length} attempts in 300 s`);
    for (let k = 1; k < times.length; k++) {
      const gap = times[k]! - times[k - 1]!;
      const ceiling = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** k);
      assert.ok(gap >= cfg.ackTimeoutMs, `gap ${k} = ${gap} < ack timeout`);
      assert.ok(gap < cfg.ackTimeoutMs + ceiling, `gap ${k} = ${gap} ≥ ack timeout + ${ceiling}`);
    }
    const expiresAt = t + 300_000;
    assert.ok(times.at(-1)! < expiresAt, 'sent after its TTL');
    const r = await h.status(id!);
    assert.equal(r.status, 'expired');
    assert.equal(
      statuses(r).filter((s) => s === 'sent').length,
      times.length,
      'every attempt is in the history',
    );
    const expiredAt = r.history.at(-1)!.at;
    assert.ok(
      expiredAt >= expiresAt && expiredAt <= expiresAt + cfg.expirySweepMs,
      `expired at +${expiredAt - t}`,
    );
    assert.equal(h.dispatcher.pendingAcks, 0);
    assert.equal(h.telemetry.c('push.expired'), 1);
    assert.equal(h.telemetry.c('push.retry'), times.length - 1);
    // A late ACK still counts: the device has it.
    h.ack(c, id!);
    await h.settle();
    assert.equal((await h.status(id!)).status, 'delivered');
    await h.stop();
  });

  test('the retry schedule is deterministic for a seed', async () => {
    const run = async (seed: number) => {
      const h = await CoreHarness.create({ seed });
      const c = await h.signIn('d1');
      const keepAlive = h.clock.setInterval(() => h.ping(c), 30_000);
      const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 100 });
      await h.advance(101_000);
      keepAlive.cancel();
      await h.stop();
      return c.conn.pushTimes(id).map((x) => x - c.conn.pushTimes(id)[0]!);
    };
    assert.deepEqual(await run(7), await run(7));
    assert.notDeepEqual(await run(7), await run(8));
  });

  test('offline device → message delivered at the next sign-in (after the welcome); ACK → delivered', async () => {
    const h = await CoreHarness.create();
    const t = h.now();
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    assert.equal((await h.status(id!)).status, 'queued');
    assert.equal(h.telemetry.c('push.offline'), 1);
    assert.equal(h.dispatcher.pendingAcks, 0);
    await h.advance(30_000);
    const c = await h.signIn('d1');
    assert.deepEqual(
      c.conn.sent.map((s) => s.frame.op),
      ['welcome', 'push'],
    );
    assert.equal(c.conn.pushes()[0]!.id, id);
    assert.equal(c.conn.pushes()[0]!.ts, t);
    h.ack(c, id!);
    await h.settle();
    const r = await h.status(id!);
    assert.equal(r.status, 'delivered');
    assert.deepEqual(statuses(r), ['accepted', 'queued', 'sent', 'delivered']);
    assert.equal(r.history[2]!.at, t + 30_000);
    assert.deepEqual(h.telemetry.observations.get('push.latency'), [30_000]);
    await h.stop();
  });

  test('a device that was online and went away gets the message on reconnect; expired ones are not sent', async () => {
    const h = await CoreHarness.create();
    const first = await h.signIn('d1');
    h.gateway.gone(first.session);
    await h.settle();
    const [keep] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    const [short] = await h.push({ to: { devices: ['d1'] }, ttl: 5 });
    await h.advance(10_000);
    assert.equal((await h.status(short!)).status, 'expired');
    const c = await h.signIn('d1');
    assert.deepEqual(
      c.conn.pushes().map((p) => p.id),
      [keep],
    );
    assert.equal(first.conn.pushes().length, 0);
    await h.stop();
  });

  test('unacked pending messages are sent again on reconnect, oldest first', async () => {
    const h = await CoreHarness.create();
    const a = await h.signIn('d1');
    const [m1] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    await h.advance(1);
    const [m2] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    h.ack(a, m2!);
    await h.advance(1);
    const [m3] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    const b = await h.signIn('d1'); // replaces a
    assert.equal(a.conn.closeCode, 4409);
    assert.deepEqual(
      b.conn.pushes().map((p) => p.id),
      [m1, m3],
    );
    await h.stop();
  });

  test('a duplicate job (published twice) is delivered once per attempt and changes the status once', async () => {
    const h = await CoreHarness.create({ start: false });
    const c = await h.signIn('d1');
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    const job = await jobOf(h, id!);
    await h.queue.publish(SHARED_PUSH_QUEUE, job, { priority: PRIORITY_LEVEL.normal });
    await h.node.start(); // both copies wait in the queue and are taken at once
    await h.settle();
    assert.equal(c.conn.pushes().length, 1, 'the device got the message twice in one attempt');
    let r = await h.status(id!);
    assert.deepEqual(statuses(r), ['accepted', 'queued', 'sent']);
    // A copy arriving while the message waits for its ACK is dropped too.
    await h.queue.publish(SHARED_PUSH_QUEUE, job, { priority: PRIORITY_LEVEL.normal });
    await h.settle();
    assert.equal(c.conn.pushes().length, 1);
    h.ack(c, id!);
    await h.settle();
    // And one arriving after the ACK.
    await h.queue.publish(SHARED_PUSH_QUEUE, job, { priority: PRIORITY_LEVEL.normal });
    await h.settle();
    assert.equal(c.conn.pushes().length, 1);
    r = await h.status(id!);
    assert.deepEqual(statuses(r), ['accepted', 'queued', 'sent', 'delivered']);
    assert.equal(h.telemetry.c('push.delivered'), 1);
    await h.stop();
  });

  test("an ACK for another device's or another app's message is ignored", async () => {
    const h = await CoreHarness.create();
    const d1 = await h.signIn('d1');
    const d2 = await h.signIn('d2');
    const d1OfApp2 = await h.signIn('d1', { app: APP2 });
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    h.ack(d2, id!);
    h.ack(d1OfApp2, id!);
    h.ack(d2, '12345'); // unknown id
    await h.settle();
    assert.equal((await h.status(id!)).status, 'sent');
    assert.equal(h.telemetry.c('ack.unknown'), 3);
    assert.equal(h.dispatcher.pendingAcks, 1);
    assert.equal(d2.conn.closed, false);
    h.ack(d1, id!);
    await h.settle();
    assert.equal((await h.status(id!)).status, 'delivered');
    await h.stop();
  });

  test('idempotencyKey returns the same ids and sends nothing twice', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    await h.signIn('d2');
    const a = await h.push({ to: { devices: ['d1', 'd2'] }, ttl: 600, idempotencyKey: 'k1' });
    await h.advance(1_000);
    const b = await h.push({ to: { devices: ['d1', 'd2'] }, ttl: 600, idempotencyKey: 'k1' });
    assert.deepEqual(b, a);
    assert.equal(c.conn.pushes().length, 1);
    assert.equal(h.messages.size, 2);
    // Another key, or the same key in another app, is a new push.
    const other = await h.push({ to: { devices: ['d1'] }, ttl: 600, idempotencyKey: 'k2' });
    assert.notDeepEqual(other, [a[0]]);
    const otherApp = await h.push({ to: { devices: ['d1'] }, ttl: 600, idempotencyKey: 'k1' }, APP2);
    assert.equal(otherApp.length, 1);
    assert.ok(!a.includes(otherApp[0]!));
    assert.equal(c.conn.pushes().length, 2);
    await h.stop();
  });

  test('duplicate devices in one request get one message', async () => {
    const h = await CoreHarness.create();
    const c = await h.signIn('d1');
    const ids = await h.push({ to: { devices: ['d1', 'd1', 'd1'] }, ttl: 600 });
    assert.equal(ids.length, 1);
    assert.equal(c.conn.pushes().length, 1);
    await h.stop();
  });
});

describe('dispatcher: engine failures', () => {
  test('a store outage during timer-driven retries neither crashes the node nor ends the retries', async () => {
    const cfg = { ackTimeoutMs: 1_000, retryBaseMs: 200, retryMaxMs: 1_000 };
    const h = await CoreHarness.create({ config: { dispatch: cfg } });
    const c = await h.signIn('d1');
    const keepAlive = h.clock.setInterval(() => h.ping(c), 5_000);
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 120 });
    assert.equal(c.conn.pushTimes(id).length, 1);
    // The store goes down (MariaDB shut down): every read and status write rejects.
    const store = h.messages;
    const down = () => Promise.reject(new Error('store unreachable'));
    const { get, transition } = store;
    store.get = down;
    store.transition = down;
    let unhandled = 0;
    const onUnhandled = () => unhandled++;
    process.on('unhandledRejection', onUnhandled);
    try {
      h.ack(c, id!); // lost: its status write fails
      await h.advance(10_000); // ACK timeouts and retries meet the outage
      await h.settle();
      assert.equal(unhandled, 0, 'no rejection escapes the dispatcher');
      assert.ok(h.telemetry.c('dispatch.attempt_failed') >= 1, 'failed attempts are counted');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      store.get = get;
      store.transition = transition;
    }
    // The store is back: the next retry delivers again, the device ACKs that copy.
    await h.advance(3_000);
    const times = c.conn.pushTimes(id);
    assert.ok(times.length >= 2, `sent again after the outage (${times.length} sends)`);
    h.ack(c, id!);
    await h.settle();
    assert.equal((await h.status(id!)).status, 'delivered');
    keepAlive.cancel();
    await h.stop();
  });
});

describe('dispatcher: failed jobs', () => {
  test('a job that fails on the store goes back to the queue after a pause, not in a tight loop', async () => {
    const h = await CoreHarness.create({ config: { dispatch: { retryBaseMs: 200 } } });
    await h.signIn('d1');
    const store = h.messages;
    const { get } = store;
    let reads = 0;
    store.get = (id: string) => {
      reads++;
      return Promise.reject(new Error(`store unreachable (${id})`));
    };
    try {
      const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 60 });
      assert.ok(id);
      await h.advance(2_000);
      // Each redelivery waits 100–200 ms: at most ~20 attempts in 2 s (thousands without the pause).
      assert.ok(reads >= 5 && reads <= 25, `${reads} store reads in 2 s of outage`);
      assert.ok(h.telemetry.c('dispatch.job_failed') >= 5);
    } finally {
      store.get = get;
    }
    // The store is back: the redelivered job delivers.
    await h.advance(1_000);
    assert.equal(h.dispatcher.pendingAcks, 1);
    await h.stop();
  });
});

describe('dispatcher: targeting', () => {
  test('to.users reaches every device of the listed users and nobody else', async () => {
    const h = await CoreHarness.create();
    const d1 = await h.signIn('d1', { user: 'u1' });
    const d2 = await h.signIn('d2', { user: 'u1' });
    const d3 = await h.signIn('d3', { user: 'u2' });
    const d4 = await h.signIn('d4');
    const other = await h.signIn('d5', { user: 'u1', app: APP2 });
    const ids = await h.push({ to: { users: ['u1'] }, ttl: 600 });
    assert.equal(ids.length, 2);
    assert.equal(d1.conn.pushes().length, 1);
    assert.equal(d2.conn.pushes().length, 1);
    assert.equal(d3.conn.pushes().length, 0);
    assert.equal(d4.conn.pushes().length, 0);
    assert.equal(other.conn.pushes().length, 0);
    assert.deepEqual((await Promise.all(ids.map((id) => h.status(id)))).map((r) => r.device).sort(), [
      'd1',
      'd2',
    ]);
    assert.equal((await h.push({ to: { users: ['u1', 'u1', 'u2'] }, ttl: 600 })).length, 3);
    assert.deepEqual(await h.push({ to: { users: ['nobody'] }, ttl: 600 }), []);
    await h.stop();
  });

  test("to.all reaches every device of the app that ever signed in (offline ones on reconnect), not other apps'", async () => {
    const h = await CoreHarness.create();
    const online = [await h.signIn('a1'), await h.signIn('a2', { user: 'u' })];
    const gone = await h.signIn('a3');
    h.gateway.gone(gone.session);
    const other = await h.signIn('b1', { app: APP2 });
    await h.settle();
    const ids = await h.push({ to: { all: true }, ttl: 600 });
    assert.equal(ids.length, 3);
    for (const c of online) assert.equal(c.conn.pushes().length, 1);
    assert.equal(other.conn.pushes().length, 0);
    const back = await h.signIn('a3');
    assert.equal(back.conn.pushes().length, 1);
    await h.stop();
  });

  test('a message id carries the device’s shard (loc, else user, else device) whatever the targeting', async () => {
    const h = await CoreHarness.create();
    await h.signIn('d1', { user: 'u1', loc: 'cn-sh-01' });
    await h.signIn('d2', { user: 'u2' });
    await h.signIn('d3');
    const shards = h.cfg.shards;
    const want: Record<string, number> = {
      d1: shardOf({ device: 'd1', user: 'u1', loc: 'cn-sh-01' }, shards),
      d2: shardOf({ device: 'd2', user: 'u2' }, shards),
      d3: shardOf({ device: 'd3' }, shards),
    };
    const check = async (ids: string[]) => {
      for (const id of ids) {
        const r = await h.status(id);
        assert.equal(decodeMsgId(id).shard, want[r.device], `${r.device}: shard of ${id}`);
      }
    };
    await check(await h.push({ to: { devices: ['d1', 'd2', 'd3'] }, ttl: 60 }));
    await check(await h.push({ to: { users: ['u1', 'u2'] }, ttl: 60 }));
    await check(await h.push({ to: { all: true }, ttl: 60 }));
    await h.stop();
  });
});

describe('dispatcher: third-party fallback', () => {
  test('offline with a registered token → sent through the channel (status fallback); an ACK later → delivered', async () => {
    const h = await CoreHarness.create({ channels: ['fcm', 'apns'] });
    const c = await h.signIn('d1');
    h.sendText(c.session, { op: 'register', channel: 'fcm', token: 'fcm-123' });
    await h.settle();
    h.gateway.gone(c.session);
    await h.settle();
    const t = h.now();
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    const fcm = h.channels.get('fcm')!;
    assert.deepEqual(fcm.sends, [{ token: 'fcm-123', id, at: t }]);
    assert.equal(h.channels.get('apns')!.sends.length, 0);
    let r = await h.status(id!);
    assert.equal(r.status, 'fallback');
    assert.equal(r.channel, 'fcm');
    // The SDK, opened from the notification, connects: the message also comes over the long connection.
    await h.advance(20_000);
    const back = await h.signIn('d1');
    assert.deepEqual(
      back.conn.pushes().map((p) => p.id),
      [id],
    );
    h.ack(back, id!);
    await h.settle();
    r = await h.status(id!);
    assert.equal(r.status, 'delivered');
    assert.deepEqual(statuses(r), ['accepted', 'queued', 'fallback', 'delivered']);
    assert.equal(fcm.sends.length, 1);
    await h.stop();
  });

  test('offline without a token: no fallback, the message waits', async () => {
    const h = await CoreHarness.create({ channels: ['fcm'] });
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    assert.equal(h.channels.get('fcm')!.sends.length, 0);
    assert.equal((await h.status(id!)).status, 'queued');
    await h.stop();
  });

  test('online but silent → fallback once the message is fallbackAfterMs old; ACK still → delivered', async () => {
    const h = await CoreHarness.create({
      channels: ['apns'],
      config: { dispatch: { ackTimeoutMs: 10_000, fallbackAfterMs: 30_000 } },
    });
    const c = await h.signIn('d1', { platform: 'ios' });
    h.sendText(c.session, { op: 'register', channel: 'apns', token: 'apns-1' });
    const keepAlive = h.clock.setInterval(() => h.ping(c), 30_000);
    const t = h.now();
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    await h.advance(29_999);
    const apns = h.channels.get('apns')!;
    assert.equal(apns.sends.length, 0);
    await h.advance(120_000);
    assert.equal(apns.sends.length, 1, 'exactly one fallback');
    assert.ok(apns.sends[0]!.at - t >= 30_000);
    assert.equal((await h.status(id!)).status, 'fallback');
    h.ack(c, id!, 'displayed');
    await h.settle();
    const r = await h.status(id!);
    assert.equal(r.status, 'displayed');
    assert.equal(statuses(r).slice(-3).join(), 'fallback,delivered,displayed');
    keepAlive.cancel();
    await h.stop();
  });

  test('a failing channel leaves the status alone and is counted', async () => {
    const h = await CoreHarness.create({ channels: ['fcm'] });
    h.channels.get('fcm')!.fail = true;
    await h.messages.registerChannel(APP, 'd1', 'fcm', 'tok');
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
    assert.equal((await h.status(id!)).status, 'queued');
    assert.equal(h.telemetry.c('push.fallback_failed'), 1);
    await h.stop();
  });

  test('an ACK taken by another node (seen only in the store) stops retries and fallback on the sending node', async () => {
    const run = async (ackedElsewhere: boolean) => {
      const calls: DeliverRequest[] = [];
      const h = await CoreHarness.create({
        channels: ['fcm'],
        rpc: {
          deliver: async (_n, req) => {
            calls.push(req);
            return 'sent';
          },
          forwardAck: async () => {},
        },
        config: { dispatch: { ackTimeoutMs: 10_000, fallbackAfterMs: 5_000 } },
      });
      await h.messages.registerChannel(APP, 'd1', 'fcm', 'tok');
      h.routes.putSync({ app: APP, device: 'd1', node: 2, ezone: 'sh', session: '2.7', updatedAt: h.now() });
      const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 600 });
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.session, '2.7');
      await h.advance(3_000);
      // Node 2's gateway got the ACK and its dispatcher recorded it.
      if (ackedElsewhere) await h.messages.transition(id!, 'delivered', h.now());
      await h.advance(60_000);
      const out = {
        fallbacks: h.channels.get('fcm')!.sends.length,
        attempts: calls.length,
        pending: h.dispatcher.pendingAcks,
      };
      await h.stop();
      return out;
    };
    assert.deepEqual(await run(true), { fallbacks: 0, attempts: 1, pending: 0 });
    const silent = await run(false);
    assert.equal(silent.fallbacks, 1);
    assert.ok(silent.attempts > 1);
  });

  test('a fallen-back message that is never ACKed is forgotten at its TTL (no pending leak)', async () => {
    const h = await CoreHarness.create({
      channels: ['fcm'],
      config: { dispatch: { ackTimeoutMs: 10_000, fallbackAfterMs: 20_000 } },
      messageStore: { retentionMs: 60_000 },
    });
    const c = await h.signIn('d1');
    h.sendText(c.session, { op: 'register', channel: 'fcm', token: 'tok' });
    const keepAlive = h.clock.setInterval(() => h.ping(c), 30_000);
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 120 });
    await h.advance(125_000);
    assert.equal(h.channels.get('fcm')!.sends.length, 1);
    const sentBefore = c.conn.pushTimes(id).length;
    assert.equal(h.dispatcher.pendingAcks, 0, 'the dispatcher still tracks a message past its TTL');
    assert.deepEqual(await h.messages.pendingFor(APP, 'd1', h.now(), 100), []);
    await h.advance(120_000);
    assert.equal(c.conn.pushTimes(id).length, sentBefore, 'sent after its TTL');
    assert.equal(h.messages.size, 0, 'the store keeps a message past TTL + retention');
    keepAlive.cancel();
    await h.stop();
  });
});

describe('dispatcher: queueing', () => {
  test('high priority is delivered before low when both wait', async () => {
    const h = await CoreHarness.create({
      start: false,
      config: { dispatch: { consumers: { min: 1, max: 1, autoscale: false } } },
    });
    const c = await h.signIn('d1');
    const [low] = await h.push({ to: { devices: ['d1'] }, ttl: 600, priority: 'low' });
    const [normal] = await h.push({ to: { devices: ['d1'] }, ttl: 600, priority: 'normal' });
    const [high] = await h.push({ to: { devices: ['d1'] }, ttl: 600, priority: 'high' });
    const [high2] = await h.push({ to: { devices: ['d1'] }, ttl: 600, priority: 'high' });
    assert.equal(c.conn.pushes().length, 0);
    await h.node.start();
    await h.settle();
    assert.deepEqual(
      c.conn.pushes().map((p) => p.id),
      [high, high2, normal, low],
    );
    await h.stop();
  });

  test('autoscale raises concurrency with the backlog and lowers it when the backlog is gone', async () => {
    const run = async (autoscale: boolean) => {
      let rpc!: SlowRpc;
      const h = await CoreHarness.create({
        rpc: {
          deliver: (n, r, d) => rpc.deliver(n, r, d),
          forwardAck: async () => {},
        },
        config: {
          dispatch: {
            ackTimeoutMs: 120_000,
            consumers: { min: 2, max: 16, backlogPerConsumer: 10, scaleIntervalMs: 1_000, autoscale },
          },
        },
      });
      rpc = new SlowRpc(h.clock, 1_000);
      const devices = Array.from({ length: 300 }, (_, i) => `r${i}`);
      for (const device of devices) {
        h.routes.putSync({ app: APP, device, node: 2, ezone: 'sh', session: '2.1', updatedAt: h.now() });
      }
      const ids = await h.push({ to: { devices }, ttl: 600 });
      await h.advance(999);
      assert.equal(rpc.maxInFlight, 2);
      await h.advance(2_000);
      const scaledTo = h.dispatcher.consumerCount;
      const stats = await h.queue.stats(SHARED_PUSH_QUEUE);
      const sentCount = async () =>
        (await Promise.all(ids.map((id) => h.status(id)))).filter((r) => r.status === 'sent').length;
      await h.advance(17_000); // t = 20 s
      const sentBy20s = await sentCount();
      await h.advance(40_000);
      const sentBy60s = await sentCount();
      const after = h.dispatcher.consumerCount;
      await h.stop();
      return { scaledTo, sentBy20s, sentBy60s, after, maxInFlight: rpc.maxInFlight, stats };
    };
    const on = await run(true);
    assert.equal(on.scaledTo, 16);
    assert.equal(on.maxInFlight, 16);
    assert.equal(on.stats.consumers, 1);
    assert.ok(on.sentBy20s >= 200, `${on.sentBy20s} sent in 20 s with autoscaling`);
    assert.equal(on.sentBy60s, 300);
    assert.equal(on.after, 2, 'scaled back down once the backlog is gone');
    const off = await run(false);
    assert.equal(off.scaledTo, 2);
    assert.equal(off.maxInFlight, 2);
    assert.ok(off.sentBy20s <= 42, `${off.sentBy20s} sent in 20 s without autoscaling`);
  });

  test('autoscale scales every queue (dedicated apps) on its own backlog', async () => {
    let rpc!: SlowRpc;
    const h = await CoreHarness.create({
      rpc: { deliver: (n, r, d) => rpc.deliver(n, r, d), forwardAck: async () => {} },
      config: {
        dispatch: {
          ackTimeoutMs: 120_000,
          dedicatedApps: [APP2],
          consumers: { min: 2, max: 16, backlogPerConsumer: 10, scaleIntervalMs: 1_000 },
        },
      },
    });
    rpc = new SlowRpc(h.clock, 1_000);
    const devices = Array.from({ length: 300 }, (_, i) => `r${i}`);
    for (const app of [APP, APP2]) {
      for (const device of devices) {
        h.routes.putSync({ app, device, node: 2, ezone: 'sh', session: '2.1', updatedAt: h.now() });
      }
    }
    await h.push({ to: { devices } }, APP);
    await h.push({ to: { devices } }, APP2);
    await h.advance(999);
    assert.equal(rpc.maxInFlight, 4, 'two queues × min 2');
    await h.advance(3_000);
    assert.equal(rpc.inFlight, 32, 'both queues at max 16');
    await h.advance(60_000);
    assert.equal(rpc.inFlight, 0);
    await h.stop();
  });

  test('messages past their TTL while still queued are expired, not sent', async () => {
    const h = await CoreHarness.create({ start: false });
    const c = await h.signIn('d1');
    const [id] = await h.push({ to: { devices: ['d1'] }, ttl: 2 });
    await h.advance(3_000);
    await h.node.start();
    await h.settle();
    assert.equal(c.conn.pushes().length, 0);
    assert.equal((await h.status(id!)).status, 'expired');
    await h.stop();
  });
});

/** A peer that answers after `delayMs` of virtual time (a remote gateway node). */
class SlowRpc implements PeerRpc {
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly clock: Scheduler,
    private readonly delayMs: number,
  ) {}
  deliver(_node: number, _req: DeliverRequest, _deadlineMs: number): Promise<DeliverResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) =>
      this.clock.setTimeout(() => {
        this.inFlight--;
        resolve('sent');
      }, this.delayMs),
    );
  }
  async forwardAck(): Promise<void> {}
}
