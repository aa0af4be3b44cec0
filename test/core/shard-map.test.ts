// The shard map ("GZS"): validated versions with who/when, refusal of a change that leaves a shard with no
// ezone, plans for --dry-run, rollback, and nodes following it (notification + periodic reconcile).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TacoError } from '../../src/core/errors.js';
import type { ShardMapStore } from '../../src/core/ports.js';
import {
  applyShardMapChange,
  commitShardMapChange,
  createShardMap,
  diffShardMaps,
  formatShardList,
  loadOrInitShardMap,
  movedReason,
  parseShardList,
  regionOfLoc,
  regionsLeaving,
  rollbackTarget,
  ShardMapFollower,
  type ShardMapState,
  ShardMapView,
  shardsByEzone,
} from '../../src/core/shard-map.js';
import { MemoryShardMapStore } from '../../src/engines/embedded/shard-map-store.js';
import { VirtualScheduler } from '../../src/sim/virtual-clock.js';

const meta = { by: 'alice@drill', at: 1_700_000_000_000 };
const first = () => createShardMap({ shards: 30, ezones: ['sh', 'bj'], at: 1, by: 'test' });
const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: TacoError) => e.code === 'BAD_INPUT' && re.test(e.message));

describe('shard map', () => {
  test('the first map splits the shards in blocks; each ezone serves its own region', () => {
    const m = first();
    assert.equal(m.version, 1);
    assert.deepEqual(shardsByEzone(m), { sh: '0-14', bj: '15-29' });
    assert.deepEqual(m.regions, { sh: 'sh', bj: 'bj' });
    assert.equal(m.change.kind, 'init');
  });

  test('moving shards makes a new version naming who, when and what', () => {
    const m = applyShardMapChange(
      first(),
      { kind: 'shards', shards: parseShardList('0-14', 30), to: 'bj' },
      meta,
    );
    assert.equal(m.version, 2);
    assert.deepEqual(shardsByEzone(m), { sh: '', bj: '0-29' });
    assert.deepEqual(m.change, { kind: 'shards', shards: parseShardList('0-14', 30), to: 'bj', ...meta });
    const plan = diffShardMaps(first(), m);
    assert.equal(plan.shards.length, 15);
    assert.deepEqual(plan.shards[0], { shard: 0, from: 'sh', to: 'bj' });
    assert.deepEqual(plan.regions, []);
  });

  test('a change that would leave a shard with no ezone is refused, naming the shards', () => {
    refused(
      () =>
        applyShardMapChange(first(), { kind: 'shards', shards: parseShardList('0-14', 30), to: 'gz' }, meta),
      /shards 0-14 would have no ezone \("gz" is not an ezone of the map: sh, bj\)/,
    );
    refused(
      () => applyShardMapChange(first(), { kind: 'shards', shards: [], to: 'bj' }, meta),
      /no shard given/,
    );
    refused(
      () => applyShardMapChange(first(), { kind: 'shards', shards: [30], to: 'bj' }, meta),
      /out of range/,
    );
    refused(
      () => applyShardMapChange(first(), { kind: 'region', region: 'sh', to: 'gz' }, meta),
      /region sh would have no ezone/,
    );
    refused(
      () => applyShardMapChange(first(), { kind: 'region', region: 'gz', to: 'bj' }, meta),
      /no region "gz"/,
    );
    refused(
      () => createShardMap({ shards: 30, ezones: ['sh', 'bj'], regions: { sh: 'gz' }, at: 1 }),
      /region sh would have no ezone/,
    );
  });

  test('rollback restores an earlier version’s content as a new version', async () => {
    const store = new MemoryShardMapStore();
    await store.commit(first());
    await commitShardMapChange(store, { kind: 'shards', shards: [0, 1, 2], to: 'bj' }, meta);
    await commitShardMapChange(store, { kind: 'region', region: 'sh', to: 'bj' }, meta);
    const cur = (await store.current())!;
    const target = await rollbackTarget(cur, (v) => store.get(v));
    assert.equal(target.version, 2, 'by default: undo the last change');
    const r = await commitShardMapChange(store, { kind: 'rollback', target }, meta);
    assert.equal(r.current.version, 4);
    assert.equal(r.current.change.restores, 2);
    assert.deepEqual(r.current.regions, first().regions);
    assert.deepEqual(r.plan.regions, [{ region: 'sh', from: 'bj', to: 'sh' }]);
    const back = await rollbackTarget(r.current, (v) => store.get(v), 1);
    assert.deepEqual(back.shards, first().shards);
    await assert.rejects(
      rollbackTarget(first(), (v) => store.get(v)),
      /nothing to roll back/,
    );
  });

  test('compare-and-set: a change on a stale base is refused, nothing written', async () => {
    const store = new MemoryShardMapStore();
    await store.commit(first());
    const stale = applyShardMapChange(first(), { kind: 'region', region: 'sh', to: 'bj' }, meta);
    await commitShardMapChange(store, { kind: 'shards', shards: [3], to: 'bj' }, meta);
    await assert.rejects(store.commit(stale), (e: TacoError) => e.details?.conflict === true);
    await assert.rejects(
      commitShardMapChange(store, { kind: 'shards', shards: [4], to: 'bj' }, meta, 1),
      /changed meanwhile \(now version 2, expected 1\)/,
    );
    assert.equal((await store.current())!.version, 2);
    assert.equal((await store.history(10)).length, 2);
  });

  test('shard lists', () => {
    assert.deepEqual(parseShardList('0-3, 9,7', 30), [0, 1, 2, 3, 7, 9]);
    assert.equal(formatShardList([9, 0, 1, 2, 3, 7, 20, 21]), '0-3,7,9,20-21');
    assert.throws(() => parseShardList('0-30', 30), /shard 30 out of range, the map has shards 0-29/);
    assert.throws(() => parseShardList('5-2', 30), /runs backwards/);
    assert.throws(() => parseShardList('x', 30), /expected shards like 0-14/);
  });

  test('regions: sessions of a region this ezone no longer serves must move, naming where', () => {
    const m2 = applyShardMapChange(first(), { kind: 'region', region: 'sh', to: 'bj' }, meta);
    assert.equal(regionOfLoc('sh/pudong-7'), 'sh');
    assert.equal(regionOfLoc('bj'), 'bj');
    assert.equal(regionOfLoc(undefined), undefined);
    assert.equal(movedReason(m2, 'sh', 'sh'), 'moved ezone=bj region=sh');
    assert.equal(movedReason(m2, 'bj', 'sh'), undefined);
    assert.equal(movedReason(m2, 'sh', undefined), undefined, 'no region: never moved');
    assert.deepEqual(regionsLeaving(first(), m2, 'sh'), ['sh']);
    assert.deepEqual(regionsLeaving(first(), m2, 'bj'), []);
  });

  test('a view takes only newer versions, in any order', () => {
    const v = new ShardMapView(first());
    const seen: number[] = [];
    v.onChange((next, prev) => seen.push(prev.version * 10 + next.version));
    const m2 = applyShardMapChange(first(), { kind: 'shards', shards: [1], to: 'bj' }, meta);
    const m3 = applyShardMapChange(m2, { kind: 'shards', shards: [2], to: 'bj' }, meta);
    assert.equal(v.offer(m3), true);
    assert.equal(v.offer(m2), false);
    assert.equal(v.offer(m3), false);
    assert.deepEqual(seen, [13]);
  });

  test('a node learns a change within a reconcile period even when no notification comes', async () => {
    const inner = new MemoryShardMapStore();
    await inner.commit(first());
    // A store whose notifications are all lost.
    const deaf: ShardMapStore = {
      current: () => inner.current(),
      commit: (m) => inner.commit(m),
      get: (v) => inner.get(v),
      history: (n) => inner.history(n),
      watch: () => () => {},
    };
    const clock = new VirtualScheduler(0);
    const view = new ShardMapView(first());
    const f = new ShardMapFollower(deaf, view, clock, { reconcileMs: 500 });
    f.start();
    await commitShardMapChange(inner, { kind: 'region', region: 'sh', to: 'bj' }, meta);
    assert.equal(view.current.version, 1);
    await clock.advance(500);
    await new Promise((r) => setImmediate(r));
    assert.equal(view.current.version, 2);
    f.stop();
  });

  test('several nodes starting on an empty store agree on one first map', async () => {
    const store = new MemoryShardMapStore();
    const maps = await Promise.all(
      ['sh', 'bj', 'sh'].map((_, i) =>
        loadOrInitShardMap(store, () =>
          createShardMap({ shards: 30, ezones: ['sh', 'bj'], at: i, by: `node ${i}` }),
        ),
      ),
    );
    const v1 = (await store.history(10)) as ShardMapState[];
    assert.equal(v1.length, 1);
    for (const m of maps) assert.deepEqual(m, v1[0]);
  });
});
