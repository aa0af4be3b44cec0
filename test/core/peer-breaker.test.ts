import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Scheduler } from '../../src/core/clock.js';
import { TacoError } from '../../src/core/errors.js';
import { PeerBreaker } from '../../src/core/peer-breaker.js';
import type { DeliverRequest, DeliverResult, PeerRpc, Telemetry } from '../../src/core/ports.js';
import { APP, CoreHarness } from '../helpers/core-harness.js';

const REQ: DeliverRequest = {
  app: 'a',
  device: 'd',
  session: '2.1',
  frame: { op: 'push', id: 'm', kind: 'notification', ts: 0 },
};

/** A peer whose next answers are scripted: 'ok', 'offline', or an error code. */
class ScriptedRpc implements PeerRpc {
  calls: number[] = [];
  answer:
    | 'ok'
    | 'offline'
    | 'DEADLINE_EXCEEDED'
    | 'QUOTA_EXHAUSTED'
    | 'ENGINE_UNAVAILABLE'
    | 'INVALID_ARGUMENT' = 'ok';
  async deliver(node: number): Promise<DeliverResult> {
    this.calls.push(node);
    if (this.answer === 'ok') return 'sent';
    if (this.answer === 'offline') return 'no-session';
    throw new TacoError(this.answer, `scripted ${this.answer}`);
  }
  async forwardAck(): Promise<void> {}
}

class Counts implements Telemetry {
  readonly n = new Map<string, number>();
  count(name: string, k = 1): void {
    this.n.set(name, (this.n.get(name) ?? 0) + k);
  }
  observe(): void {}
  gauge(): void {}
  c(name: string): number {
    return this.n.get(name) ?? 0;
  }
}

function setup(failures = 3, openMs = 1_000, maxOpenMs = 4_000) {
  let now = 0;
  const inner = new ScriptedRpc();
  const telemetry = new Counts();
  const breaker = new PeerBreaker(inner, { now: () => now }, { failures, openMs, maxOpenMs }, telemetry);
  const call = (node = 2) =>
    breaker.deliver(node, REQ, 5_000).then(
      (r) => r,
      (e: TacoError) => e.code,
    );
  return { inner, telemetry, breaker, call, advance: (ms: number) => (now += ms) };
}

describe('peer breaker (incident grpc-stream-quota)', () => {
  test('opens after `failures` consecutive transport failures and fails calls at once while open', async () => {
    const s = setup(3);
    s.inner.answer = 'DEADLINE_EXCEEDED';
    assert.equal(await s.call(), 'DEADLINE_EXCEEDED');
    assert.equal(await s.call(), 'DEADLINE_EXCEEDED');
    assert.deepEqual(s.breaker.openPeers, []);
    assert.equal(await s.call(), 'DEADLINE_EXCEEDED');
    assert.deepEqual(s.breaker.openPeers, [2]);
    assert.equal(s.telemetry.c('rpc.breaker_open'), 1);
    s.inner.answer = 'ok';
    assert.equal(await s.call(), 'PEER_UNAVAILABLE');
    assert.equal(s.inner.calls.length, 3, 'the open breaker did not call the peer');
    assert.equal(await s.call(3), 'sent', 'other peers are not affected');
    assert.equal(s.telemetry.c('rpc.breaker_rejected'), 1);
  });

  test('a success in between resets the count; offline answers and request errors are not failures', async () => {
    const s = setup(3);
    for (const a of [
      'QUOTA_EXHAUSTED',
      'ENGINE_UNAVAILABLE',
      'offline',
      'QUOTA_EXHAUSTED',
      'INVALID_ARGUMENT',
    ] as const) {
      s.inner.answer = a;
      await s.call();
    }
    s.inner.answer = 'ok';
    await s.call();
    s.inner.answer = 'DEADLINE_EXCEEDED';
    await s.call();
    await s.call();
    assert.deepEqual(s.breaker.openPeers, [], 'never 3 transport failures in a row');
    await s.call();
    assert.deepEqual(s.breaker.openPeers, [2]);
  });

  test('after openMs one probe goes through: success closes, failure reopens for twice as long (bounded)', async () => {
    const s = setup(1, 1_000, 3_000);
    s.inner.answer = 'DEADLINE_EXCEEDED';
    await s.call(); // opens for 1 s
    s.advance(999);
    assert.equal(await s.call(), 'PEER_UNAVAILABLE');
    s.advance(1);
    assert.equal(await s.call(), 'DEADLINE_EXCEEDED', 'the probe reached the peer'); // reopens for 2 s
    assert.equal(s.inner.calls.length, 2);
    s.advance(1_999);
    assert.equal(await s.call(), 'PEER_UNAVAILABLE');
    s.advance(1);
    assert.equal(await s.call(), 'DEADLINE_EXCEEDED'); // reopens for min(4 s, 3 s)
    s.advance(2_999);
    assert.equal(await s.call(), 'PEER_UNAVAILABLE');
    s.advance(1);
    s.inner.answer = 'offline';
    assert.equal(await s.call(), 'no-session', 'a working peer closes the breaker');
    assert.deepEqual(s.breaker.openPeers, []);
    assert.equal(s.telemetry.c('rpc.breaker_closed'), 1);
    s.inner.answer = 'DEADLINE_EXCEEDED';
    await s.call();
    s.advance(1_000);
    assert.equal(await s.call(), 'DEADLINE_EXCEEDED', 'closing reset the open time to openMs');
  });

  test('while the probe is in flight, other calls still fail fast', async () => {
    const s = setup(1);
    s.inner.answer = 'DEADLINE_EXCEEDED';
    await s.call();
    s.advance(1_000);
    s.inner.answer = 'ok';
    const probe = s.call();
    assert.equal(await s.call(), 'PEER_UNAVAILABLE');
    assert.equal(await probe, 'sent');
    assert.equal(await s.call(), 'sent');
  });
});

/** A peer whose backend hangs: every call ends at its deadline (the incident's slow backend). */
class HangingPeer implements PeerRpc {
  calls = 0;
  constructor(private readonly clock: Scheduler) {}
  deliver(node: number, _req: DeliverRequest, deadlineMs: number): Promise<DeliverResult> {
    this.calls++;
    return new Promise((_resolve, reject) =>
      this.clock.setTimeout(
        () => reject(new TacoError('DEADLINE_EXCEEDED', `call to node ${node} exceeded ${deadlineMs} ms`)),
        deadlineMs,
      ),
    );
  }
  async forwardAck(): Promise<void> {}
}

describe('dispatcher behind the peer breaker', () => {
  // 2 consumers, 40 pushes to devices on a hanging peer, then one to a device signed in here.
  const run = async (failures: number) => {
    let peer!: HangingPeer;
    const h = await CoreHarness.create({
      rpc: { deliver: (n, r, d) => peer.deliver(n, r, d), forwardAck: async () => {} },
      config: {
        dispatch: {
          rpcDeadlineMs: 5_000,
          peerBreaker: { failures },
          consumers: { min: 2, max: 2, autoscale: false },
        },
      },
    });
    peer = new HangingPeer(h.clock);
    const local = await h.signIn('local');
    const remote = Array.from({ length: 40 }, (_, i) => `r${i}`);
    for (const device of remote) {
      h.routes.putSync({ app: APP, device, node: 2, ezone: 'sh', session: '2.1', updatedAt: h.now() });
    }
    await h.push({ to: { devices: remote } });
    await h.push({ to: { devices: ['local'] } });
    const t0 = h.now();
    while (local.conn.pushes().length === 0 && h.now() - t0 < 300_000) await h.advance(500);
    const waited = h.now() - t0;
    await h.stop();
    return { waited, calls: peer.calls };
  };

  test('a hanging peer holds consumers for a deadline per call without the breaker; with it, a few', async () => {
    const off = await run(0);
    // 40 calls × 5 s over 2 consumers before the local push is reached.
    assert.ok(off.waited >= 100_000, `local push waited ${off.waited} ms without the breaker`);
    const on = await run(4);
    // Two rounds of 2 calls fail at their deadline; the rest fail at once.
    assert.ok(on.waited <= 11_000, `local push waited ${on.waited} ms with the breaker`);
    // The calls that opened it, and the retries of the first ones that were already due.
    assert.ok(on.calls <= 8, `${on.calls} calls reached the hanging peer with the breaker`);
    assert.ok(off.calls > 40, `${off.calls} calls reached it without`);
  });
});
