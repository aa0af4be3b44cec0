/**
 * The dispatcher's synchronous path (embedded engines that answer at once, SYNC_ENGINE) must do what
 * its asynchronous path does: the same statuses at the same times, the same frames, retries, ACK
 * timeouts, expiries and telemetry. Each scenario runs twice on virtual time, once as it is (the
 * synchronous path) and once with the engines' async methods replaced by forwarding wrappers,
 * which turns the synchronous view off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SYNC_ENGINE } from '../../src/core/dispatcher.js';
import type { MessageRecord, Route } from '../../src/core/ports.js';
import { MemoryMessageStore } from '../../src/engines/embedded/message-store.js';
import { MemoryQueue } from '../../src/engines/embedded/queue.js';
import { MemoryRouteStore } from '../../src/engines/embedded/route-store.js';
import { type Client, CoreHarness, type HarnessOptions } from '../helpers/core-harness.js';

/** Forces the asynchronous path: every async method the dispatcher uses is a wrapper now. */
function forceAsync(h: CoreHarness): void {
  const m = h.messages;
  const mp = MemoryMessageStore.prototype;
  m.get = (id) => mp.get.call(m, id);
  m.create = (rec) => mp.create.call(m, rec);
  m.transition = (id, s, at, ch) => mp.transition.call(m, id, s, at, ch);
  const r = h.routes;
  r.get = (app, device) => MemoryRouteStore.prototype.get.call(r, app, device);
  const q = h.queue;
  q.publish = (name, body, opts) => MemoryQueue.prototype.publish.call(q, name, body, opts);
}

/** Pushes the ids it sends into `ids` and signs in through `signIn` (so their frames are traced). */
type Scenario = (h: CoreHarness, ids: string[], signIn: (device: string) => Promise<Client>) => Promise<void>;

interface Trace {
  records: MessageRecord[];
  frames: { device: string; at: number; frame: unknown }[];
  counts: [string, number][];
  observations: [string, number[]][];
  pendingAcks: number;
}

async function run(sync: boolean, opts: HarnessOptions, scenario: Scenario): Promise<Trace> {
  const h = await CoreHarness.create({ seed: 7, ...opts });
  if (!sync) forceAsync(h);
  assert.equal(h.messages[SYNC_ENGINE]() !== undefined, sync, 'the path under test is the one asked for');
  const ids: string[] = [];
  const clients: Client[] = [];
  await scenario(h, ids, async (device) => {
    const c = await h.signIn(device);
    clients.push(c);
    return c;
  });
  const records: MessageRecord[] = [];
  for (const id of ids) records.push(structuredClone(await h.status(id)));
  const trace: Trace = {
    records,
    frames: clients.flatMap((c) => c.conn.sent.map((s) => ({ device: c.device, at: s.at, frame: s.frame }))),
    counts: [...h.telemetry.counts].sort(([a], [b]) => a.localeCompare(b)),
    observations: [...h.telemetry.observations].sort(([a], [b]) => a.localeCompare(b)),
    pendingAcks: h.dispatcher.pendingAcks,
  };
  await h.stop();
  return trace;
}

async function sameBothWays(opts: HarnessOptions, scenario: Scenario): Promise<Trace> {
  const a = await run(true, opts, scenario);
  const b = await run(false, opts, scenario);
  assert.deepEqual(a, b);
  return a;
}

describe('dispatcher: the synchronous path does what the asynchronous one does', () => {
  test('online device, ACKed; displayed and opened; an unknown ACK', async () => {
    const t = await sameBothWays({}, async (h, ids, signIn) => {
      const c = await signIn('d1');
      for (let i = 0; i < 3; i++) {
        ids.push(...(await h.push({ to: { devices: ['d1'] }, ttl: 60, data: { i } })));
        await h.advance(100);
      }
      h.ack(c, ids[0]!);
      h.ack(c, ids[1]!, 'displayed');
      h.ack(c, ids[2]!, 'opened');
      h.ack(c, '12345');
      await h.advance(20_000);
    });
    assert.deepEqual(
      t.records.map((r) => r.status),
      ['delivered', 'displayed', 'opened'],
    );
  });

  test('no ACK: ACK timeouts, retries with backoff, expiry at the TTL, a late ACK', async () => {
    const cfg = { ackTimeoutMs: 5_000, retryBaseMs: 1_000, retryMaxMs: 20_000 };
    const t = await sameBothWays({ config: { dispatch: cfg } }, async (h, ids, signIn) => {
      const c = await signIn('d1');
      const keepAlive = h.clock.setInterval(() => h.ping(c), 20_000);
      ids.push(...(await h.push({ to: { devices: ['d1'] }, ttl: 90 })));
      await h.advance(100_000);
      h.ack(c, ids[0]!);
      await h.advance(1_000);
      keepAlive.cancel();
    });
    assert.ok(t.counts.some(([k, n]) => k === 'push.retry' && n > 2));
    assert.equal(t.records[0]!.status, 'delivered');
  });

  test('offline device: left pending, sent at the next sign-in; expired while queued', async () => {
    await sameBothWays({}, async (h, ids, signIn) => {
      ids.push(...(await h.push({ to: { devices: ['d2'] }, ttl: 60 })));
      ids.push(...(await h.push({ to: { devices: ['d3'] }, ttl: 1 })));
      await h.advance(2_000);
      const c = await signIn('d2');
      await signIn('d3');
      h.ack(c, ids[0]!);
      await h.advance(1_000);
    });
  });

  test('offline with a registered channel: third-party fallback', async () => {
    await sameBothWays({ channels: ['fcm'] }, async (h, ids, signIn) => {
      const c = await signIn('d4');
      h.sendText(c.session, { op: 'register', channel: 'fcm', token: 'tok-1' });
      await h.settle();
      h.gateway.gone(c.session);
      await h.settle();
      ids.push(...(await h.push({ to: { devices: ['d4'] }, ttl: 60 })));
      await h.advance(1_000);
    });
  });

  test('a device on another node: delivered over the peer RPC', async () => {
    const sent: string[] = [];
    const rpc = {
      deliver: async (_node: number, req: { frame: { id: string } }) => {
        sent.push(req.frame.id);
        return 'sent' as const;
      },
      forwardAck: async () => {},
    };
    await sameBothWays({ rpc }, async (h, ids) => {
      const route: Route = {
        app: 'app1',
        device: 'd5',
        node: 2,
        ezone: 'sh',
        session: '2.1',
        updatedAt: h.now(),
      };
      h.routes.putSync(route);
      ids.push(...(await h.push({ to: { devices: ['d5'] }, ttl: 60 })));
      await h.advance(1_000);
    });
    assert.equal(sent.length, 2, 'one delivery in each run');
  });
});
