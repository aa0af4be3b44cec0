// The simulator's dns-failover and shard-switch faults go through the shard map and drain code that
// `taco failover` uses: a versioned change, nodes following it, 4503 drains naming the new ezone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatShardList, shardsOf } from '../../src/core/shard-map.js';
import { loadCalibration } from '../../src/sim/calibration.js';
import { type FaultSpec, type SimRecorder, World, type WorldSpec } from '../../src/sim/world.js';

function spec(faults: FaultSpec[]): WorldSpec {
  return {
    seed: 7,
    durationMs: 90_000,
    ezones: [
      { name: 'sh', gateways: 2 },
      { name: 'bj', gateways: 2 },
    ],
    clients: {
      count: 400,
      platforms: { android: 0.6, ios: 0.35, h5: 0.05 },
      heartbeatSec: 20,
      reconnect: { baseMs: 1000, maxMs: 10_000, jitter: 'full' },
      rampMs: 10_000,
      dnsTtlMs: 30_000,
    },
    traffic: { pushPerSec: 40, upstreamPerSec: 0, ttlSec: 120 },
    faults,
    core: { gateway: { heartbeatSec: 20, drainPerSec: 100 } },
    engines: {
      queue: { perConsumerPerSec: 500, diskModeThreshold: 1e9, diskModeSlowdown: 4 },
      rpc: { maxConcurrentStreams: 100 },
    },
    calibration: loadCalibration(),
    stormAttemptsPerSec: 200,
  };
}

class Counts implements SimRecorder {
  readonly c = new Map<string, number>();
  readonly g = new Map<string, number>();
  setTime(): void {}
  count(name: string, n = 1): void {
    this.c.set(name, (this.c.get(name) ?? 0) + n);
  }
  observe(): void {}
  gauge(name: string, v: number, tags?: Record<string, string>): void {
    this.g.set(tags?.ezone ? `${name}{${tags.ezone}}` : name, v);
  }
  event(): void {}
}

describe('simulated faults on the shard map', () => {
  test('shard-switch: a versioned change; pushes of the moved shards are handed to their new ezone; nothing lost', async () => {
    const rec = new Counts();
    const world = new World(
      spec([
        {
          kind: 'shard-switch',
          atMs: 30_000,
          forMs: 30_000,
          params: { shards: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], to: 'bj' },
        },
      ]),
      rec,
    );
    const out = await world.run();
    const history = await world.shardMaps.history(10);
    assert.deepEqual(
      history.map((m) => m.change.kind),
      ['rollback', 'shards', 'init'],
    );
    assert.equal(formatShardList(shardsOf(history[1]!, 'bj')), '0-29');
    assert.deepEqual(world.shardView.current.shards, history[2]!.shards, 'healed: back to the first map');
    assert.ok(
      (rec.c.get('push.handed_off') ?? 0) > 0,
      'pushes accepted in one ezone were processed in their shard’s',
    );
    assert.equal(out.lost, 0);
  });

  test('dns-failover: the region’s sessions drain to the new ezone (4503 naming it), new sign-ins follow the map', async () => {
    const rec = new Counts();
    const world = new World(
      spec([{ kind: 'dns-failover', atMs: 30_000, params: { region: 'sh', to: 'bj' } }]),
      rec,
    );
    const out = await world.run();
    assert.equal(world.shardView.current.regions.sh, 'bj');
    assert.equal(world.shardView.current.change.kind, 'region');
    assert.equal(world.net.dns.get('sh'), 'bj', 'the dispatch DNS answers from the map');
    assert.equal(rec.g.get('sessions.online{sh}'), 0);
    assert.equal(rec.g.get('sessions.online{bj}'), 400);
    assert.equal(out.lost, 0);
  });
});
