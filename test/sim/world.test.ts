/**
 * The simulator runs the shipped core, and its network primitives do what
 * they claim: cut, reset, half-open peers, in-order latency.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayCore } from '../../src/core/gateway.js';
import { loadCalibration } from '../../src/sim/calibration.js';
import { type FaultSpec, type SimRecorder, World, type WorldSpec } from '../../src/sim/world.js';

function spec(faults: FaultSpec[] = [], core: WorldSpec['core'] = {}): WorldSpec {
  return {
    seed: 42,
    durationMs: 200_000,
    ezones: [
      { name: 'sh', gateways: 2 },
      { name: 'bj', gateways: 2 },
    ],
    clients: {
      count: 2000,
      platforms: { android: 0.6, ios: 0.35, h5: 0.05 },
      heartbeatSec: 20,
      reconnect: { baseMs: 1000, maxMs: 30_000, jitter: 'full' },
      rampMs: 10_000,
      dnsTtlMs: 30_000,
    },
    traffic: { pushPerSec: 50, upstreamPerSec: 5, ttlSec: 300 },
    faults,
    core: { gateway: { heartbeatSec: 20 }, ...core },
    engines: {
      queue: { perConsumerPerSec: 500, diskModeThreshold: 1e9, diskModeSlowdown: 4 },
      rpc: { maxConcurrentStreams: 100 },
    },
    calibration: loadCalibration(),
    stormAttemptsPerSec: 200,
  };
}

class CountingRecorder implements SimRecorder {
  readonly counts = new Map<string, number>();
  readonly gauges = new Map<string, number[]>();
  readonly events = new Map<string, number>();
  setTime(): void {}
  count(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
  observe(name: string): void {
    this.count(`${name}#observed`);
  }
  gauge(name: string, value: number, tags?: Record<string, string>): void {
    const k = tags ? `${name}{${Object.values(tags).join(',')}}` : name;
    let list = this.gauges.get(k);
    if (!list) this.gauges.set(k, (list = []));
    list.push(value);
  }
  event(name: string): void {
    this.events.set(name, (this.events.get(name) ?? 0) + 1);
  }
  c(name: string): number {
    return this.counts.get(name) ?? 0;
  }
  series(name: string): number[] {
    return this.gauges.get(name) ?? [];
  }
}

async function run(faults: FaultSpec[] = [], core: WorldSpec['core'] = {}) {
  const rec = new CountingRecorder();
  const world = new World(spec(faults, core), rec);
  const out = await world.run();
  return { rec, out, world };
}

describe('simulated world', () => {
  test('a quiet run: everyone online, every push delivered, nothing lost', async () => {
    const { rec, out } = await run();
    assert.equal(out.finalOnline, 2000);
    assert.equal(out.lost, 0);
    assert.ok(out.accepted > 9000, `accepted ${out.accepted}`);
    assert.equal(rec.c('push.delivered'), out.delivered);
    assert.ok(out.delivered >= out.accepted - 50, 'all but the last moments’ pushes are delivered');
    assert.equal(rec.c('session.reaped'), 0, 'heartbeating clients are never reaped');
  });

  test('the simulated gateway is the shipped core: changing a core module changes the result', async () => {
    const before = await run();
    // A behaviour change in src/core only: the heartbeat timeout becomes shorter than the heartbeat.
    const desc = Object.getOwnPropertyDescriptor(GatewayCore.prototype, 'reapAfterMs')!;
    Object.defineProperty(GatewayCore.prototype, 'reapAfterMs', { get: () => 5_000, configurable: true });
    try {
      const after = await run();
      assert.equal(before.rec.c('session.reaped'), 0);
      assert.ok(after.rec.c('session.reaped') > 1000, `reaped ${after.rec.c('session.reaped')}`);
      assert.ok(after.rec.c('signin.ok') > before.rec.c('signin.ok'), 'reaped clients sign in again');
    } finally {
      Object.defineProperty(GatewayCore.prototype, 'reapAfterMs', desc);
    }
  });

  test('network-cut resets an ezone’s connections; with DNS failover clients recover in the other ezone', async () => {
    const { rec, out } = await run([
      { kind: 'network-cut', atMs: 60_000, forMs: 60_000, params: { ezone: 'sh' } },
      { kind: 'dns-failover', atMs: 60_000, params: { region: 'sh', to: 'bj' } },
    ]);
    const sh = rec.series('sessions.online{sh}');
    const bj = rec.series('sessions.online{bj}');
    assert.ok(sh[50]! > 800, 'sh had its clients before the cut');
    assert.equal(sh[sh.length - 1], 0, 'sh has none after the failover');
    assert.equal(bj[bj.length - 1], 2000, 'everyone is back, in bj');
    assert.ok((rec.counts.get('reconnect.recovery#observed') ?? 0) >= 900);
    assert.equal(out.lost, 0);
  });

  test('a cut without failover: clients wait for the ezone to come back', async () => {
    const { rec } = await run([
      { kind: 'network-cut', atMs: 60_000, forMs: 90_000, params: { ezone: 'sh' } },
    ]);
    const sh = rec.series('sessions.online{sh}');
    // The gateways learn nothing from the cut: their sessions go when the wheel reaps them (2×20+5 s).
    assert.ok(sh[61]! > 800, 'right after the cut sh still holds its (dead) sessions');
    assert.equal(
      Math.max(...sh.slice(110, 148)),
      0,
      'reaped: nobody is online in sh during the rest of the cut',
    );
    assert.ok(sh[sh.length - 1]! > 800, 'sh clients are back after it');
  });

  test('half-open peers are reaped by the wheel; with the reaper off they pile up', async () => {
    const leak: FaultSpec[] = [
      { kind: 'close-wait-leak', atMs: 20_000, forMs: 60_000, params: { fraction: 0.5 } },
    ];
    const ok = await run(leak);
    const broken = await run(leak, { gateway: { heartbeatSec: 20, reapIdle: false } });
    const last = (r: CountingRecorder) => r.series('gateway.closewait').at(-1)!;
    assert.ok(Math.max(...ok.rec.series('gateway.closewait')) > 0, 'half-open connections existed');
    assert.equal(last(ok.rec), 0, 'all reaped once the leak stopped');
    assert.ok(last(broken.rec) >= 900, `leaked ${last(broken.rec)}`);
  });

  test('a gateway crash resets its clients, who reconnect elsewhere; nothing is lost', async () => {
    const { rec, out } = await run([
      { kind: 'gateway-crash', atMs: 60_000, params: { ezone: 'sh', gateway: 0 } },
    ]);
    assert.equal(rec.events.get('gateway.crashed'), 1);
    assert.equal(out.finalOnline, 2000);
    assert.equal(out.lost, 0);
  });

  test('an RPC slowdown makes calls queue behind the stream quota and time out at their deadline', async () => {
    const { rec, out } = await run(
      [{ kind: 'grpc-stream-quota', atMs: 30_000, forMs: 60_000, params: { latencyMs: 20_000 } }],
      { dispatch: { rpcDeadlineMs: 2_000 } },
    );
    assert.ok(rec.c('rpc.timeouts') > 0, 'deadlines fired');
    assert.equal(out.lost, 0);
  });

  test('same seed, same outcome', async () => {
    const a = await run([{ kind: 'gateway-crash', atMs: 30_000, params: { ezone: 'bj', gateway: 1 } }]);
    const b = await run([{ kind: 'gateway-crash', atMs: 30_000, params: { ezone: 'bj', gateway: 1 } }]);
    assert.deepEqual(a.out, b.out);
    assert.deepEqual([...a.rec.counts], [...b.rec.counts]);
  });
});
