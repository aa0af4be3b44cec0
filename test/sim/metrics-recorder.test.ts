import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TacoError } from '../../src/core/errors.js';
import {
  defaultRegistry,
  MetricRegistry,
  MetricsRecorder,
  type RecordedEvent,
} from '../../src/sim/metrics/index.js';

const START = 1_704_067_200_000; // the engine's virtual epoch; the recorder works relative to it

function recorder(bucketMs = 10_000) {
  const registry = new MetricRegistry().registerAll([
    { name: 'c', kind: 'counter', unit: 'events', description: '' },
    { name: 'h', kind: 'histogram', unit: 'ms', description: '' },
    { name: 'g', kind: 'gauge', unit: 'connections', description: '', combine: 'sum' },
    { name: 'gmax', kind: 'gauge', unit: 'bytes', description: '', combine: 'max' },
    { name: 'e', kind: 'event', unit: 'events', description: '' },
  ]);
  const r = new MetricsRecorder({ registry, startMs: START, bucketMs });
  const at = (sec: number) => r.setTime(START + sec * 1000);
  return { r, at };
}

describe('MetricsRecorder', () => {
  test('counters add up per bucket; windows select buckets; tags filter', () => {
    const { r, at } = recorder();
    at(0);
    r.count('c');
    r.count('c', 2, { ezone: 'sh' });
    at(15);
    r.count('c', 4, { ezone: 'bj' });
    at(25);
    r.count('c', 8, { ezone: 'sh' });
    at(30);
    assert.equal(r.total('c'), 15);
    assert.equal(r.total('c', { ezone: 'sh' }), 10);
    assert.equal(r.total('c', { ezone: 'bj' }), 4);
    assert.equal(r.total('c', { ezone: 'gz' }), 0);
    assert.equal(r.total('c', {}, r.window(10_000, 20_000)), 4);
    assert.equal(r.total('c', {}, r.window(10_000, 30_000)), 12);
    // a window is widened to the buckets it touches
    assert.equal(r.total('c', {}, r.window(12_000, 13_000)), 4);
  });

  test('windows: bucket-aligned, clipped to the time recorded, spans for rates', () => {
    const { r, at } = recorder();
    at(200);
    assert.deepEqual(r.window(), { first: 0, last: 20, fromMs: 0, toMs: 200_000, spanMs: 200_000 });
    assert.deepEqual(r.window(120_000, 300_000), {
      first: 12,
      last: 20,
      fromMs: 120_000,
      toMs: 200_000,
      spanMs: 80_000,
    });
    assert.deepEqual(r.window(125_000, 135_000), {
      first: 12,
      last: 13,
      fromMs: 120_000,
      toMs: 140_000,
      spanMs: 20_000,
    });
    assert.equal(r.window(300_000, 400_000).spanMs, 0);
    at(205);
    assert.deepEqual(r.window(), { first: 0, last: 20, fromMs: 0, toMs: 205_000, spanMs: 205_000 });
  });

  test('histograms: exact count, min, max, mean; merged percentiles; tags', () => {
    const { r, at } = recorder();
    at(1);
    for (let i = 1; i <= 100; i++) r.observe('h', i, { ezone: i % 2 ? 'sh' : 'bj' });
    at(11);
    r.observe('h', 1000.25, { ezone: 'sh' });
    at(20);
    const all = r.histogram('h')!;
    assert.equal(all.count, 101);
    assert.equal(all.minMs, 1);
    assert.equal(all.maxMs, 1000.25);
    assert.ok(Math.abs(all.meanMs - (5050 + 1000.25) / 101) < 1e-9);
    assert.ok(Math.abs(all.percentile(50) - 51) / 51 <= 0.001, 'HDR: 3 significant digits');
    assert.ok(all.percentile(50) >= 51, 'never below the true value');
    assert.equal(all.percentile(100), 1000.25, 'p(100) is the exact max');
    const first = r.histogram('h', {}, r.window(0, 10_000))!;
    assert.equal(first.count, 100);
    assert.ok(Math.abs(first.percentile(99) - 99) / 99 <= 0.001);
    assert.equal(r.histogram('h', { ezone: 'bj' })!.count, 50);
    assert.equal(r.histogram('h', { ezone: 'bj' })!.maxMs, 100);
    assert.equal(r.histogram('h', { ezone: 'gz' }), null);
    assert.equal(r.total('h'), 101, 'total() of a histogram counts observations');
  });

  test('gauges: min, max, last, and a time-weighted average', () => {
    const { r, at } = recorder();
    at(0);
    r.gauge('g', 0);
    at(5);
    r.gauge('g', 100);
    at(10);
    assert.deepEqual(r.gaugeStats('g'), { min: 0, max: 100, avg: 50, last: 100 });
    at(40);
    // 100 held for 35 of 40 seconds
    assert.deepEqual(r.gaugeStats('g'), { min: 0, max: 100, avg: 87.5, last: 100 });
    assert.deepEqual(r.gaugeStats('g', {}, r.window(20_000, 30_000)), {
      min: 100,
      max: 100,
      avg: 100,
      last: 100,
    });
    assert.deepEqual(r.series('g', 'last').values, [100, 100, 100, 100]);
    assert.deepEqual(r.series('g', 'min').values, [0, 100, 100, 100]);
    assert.equal(r.gaugeStats('unset'), null);
  });

  test('gauges over several tag sets combine exactly over time (sum, max)', () => {
    const { r, at } = recorder();
    at(0);
    r.gauge('g', 10, { ezone: 'sh' });
    at(5);
    r.gauge('g', 0, { ezone: 'sh' });
    r.gauge('g', 20, { ezone: 'bj' });
    at(10);
    // sh peaked at 10 and bj at 20, but never at the same time: the total peaked at 20, not 30
    assert.equal(r.gaugeStats('g')!.max, 20);
    assert.equal(r.gaugeStats('g')!.avg, 15);
    assert.equal(r.gaugeStats('g', { ezone: 'sh' })!.max, 10);
    assert.equal(r.gaugeStats('g', { ezone: 'bj' })!.last, 20);
    assert.equal(r.gaugeStats('g', { ezone: 'gz' }), null);

    r.gauge('gmax', 5, { ezone: 'sh', gateway: '0' });
    r.gauge('gmax', 7, { ezone: 'sh', gateway: '1' });
    r.gauge('gmax', 3, { ezone: 'bj', gateway: '0' });
    at(20);
    assert.equal(r.gaugeStats('gmax')!.last, 7);
    assert.equal(r.gaugeStats('gmax', { ezone: 'bj' })!.last, 3);
    assert.equal(r.gaugeStats('gmax', { gateway: '0' })!.last, 5);
    assert.equal(r.gaugeStats('gmax', { ezone: 'sh', gateway: '1' })!.last, 7);
    assert.deepEqual(r.tagValues('gmax', 'ezone'), ['bj', 'sh']);
    assert.deepEqual(r.tagSets('gmax'), ['ezone=bj,gateway=0', 'ezone=sh,gateway=0', 'ezone=sh,gateway=1']);
  });

  test('events: counted per bucket and streamed to listeners with their time', () => {
    const { r, at } = recorder();
    const seen: RecordedEvent[] = [];
    r.onEvent((e) => seen.push(e));
    at(3);
    r.event('e', { n: 1 });
    at(13);
    r.event('e');
    r.event('fault.start', { kind: 'network-cut' });
    at(20);
    assert.equal(r.total('e'), 2);
    assert.equal(r.total('e', {}, r.window(0, 10_000)), 1);
    assert.equal(r.eventCount, 3);
    assert.deepEqual(r.eventCounts(), { e: 2, 'fault.start': 1 });
    assert.deepEqual(seen, [
      { tMs: 3_000, name: 'e', fields: { n: 1 } },
      { tMs: 13_000, name: 'e', fields: undefined },
      { tMs: 13_000, name: 'fault.start', fields: { kind: 'network-cut' } },
    ]);
  });

  test('series per bucket: counter rates, histogram percentiles, nulls where empty', () => {
    const { r, at } = recorder();
    at(0);
    r.count('c', 50);
    for (let i = 1; i <= 10; i++) r.observe('h', i * 10);
    at(25);
    r.count('c', 10);
    at(25); // the last bucket has run 5 s so far
    const rate = r.series('c', 'rate');
    assert.deepEqual(rate.tMs, [0, 10_000, 20_000]);
    assert.deepEqual(rate.values, [5, 0, 2]);
    assert.deepEqual(r.series('c', 'count').values, [50, 0, 10]);
    const p50 = r.series('h', 'p50').values;
    assert.ok(Math.abs(p50[0]! - 50) / 50 <= 0.001);
    assert.deepEqual(p50.slice(1), [null, null]);
    assert.deepEqual(r.series('h', 'p100').values, [100, null, null]);
    assert.deepEqual(r.series('h', 'max').values, [100, null, null]);
    assert.deepEqual(r.series('h', 'count').values, [10, 0, 0]);
    assert.deepEqual(r.series('nothing', 'rate').values, [null, null, null]);
  });

  test('withTags gives a Telemetry view for one node', () => {
    const { r, at } = recorder();
    at(1);
    const node = r.withTags({ ezone: 'sh', gateway: '3' });
    node.count('c');
    node.observe('h', 5);
    node.gauge('g', 7);
    assert.equal(r.total('c', { gateway: '3' }), 1);
    assert.equal(r.histogram('h', { ezone: 'sh' })!.count, 1);
    assert.equal(r.gaugeStats('g', { ezone: 'sh' })!.last, 7);
  });

  test('names: unregistered ones are recorded as undeclared, or refused in strict mode; kinds must agree', () => {
    const { r } = recorder();
    r.count('surprise');
    assert.equal(r.total('surprise'), 1);
    assert.equal(r.registry.has('surprise'), false, 'undeclared names do not count as known');
    assert.equal(r.registry.get('surprise')!.kind, 'counter');
    assert.throws(
      () => r.observe('c', 1),
      (e: unknown) => e instanceof TacoError && e.code === 'INTERNAL',
    );
    assert.throws(() => r.gauge('surprise', 1), /is a counter/);
    const strict = new MetricsRecorder({ registry: defaultRegistry(), strict: true });
    assert.throws(() => strict.count('surprise'), /not registered/);
    strict.count('push.lost');
    assert.equal(strict.total('push.lost'), 1);
  });

  test('time only moves forward; NaN is a bug', () => {
    const { r, at } = recorder();
    at(10);
    assert.throws(
      () => at(9),
      (e: unknown) => e instanceof TacoError && e.code === 'INTERNAL',
    );
    assert.throws(() => r.observe('h', Number.NaN), /NaN/);
    assert.throws(() => r.gauge('g', Number.NaN), /NaN/);
  });

  test('the registry refuses one name with two kinds and lists names sorted', () => {
    const reg = new MetricRegistry().register({ name: 'b', kind: 'counter', unit: '', description: '' });
    reg.register({ name: 'a', kind: 'gauge', unit: '', description: '' });
    reg.register({ name: 'b', kind: 'counter', unit: 'x', description: 'again' });
    assert.throws(
      () => reg.register({ name: 'b', kind: 'gauge', unit: '', description: '' }),
      /registered as counter and as gauge/,
    );
    assert.deepEqual(
      reg.list().map((d) => d.name),
      ['a', 'b'],
    );
    assert.ok(defaultRegistry().has('push.latency'));
    assert.ok(defaultRegistry().has('reconnect.storm'));
  });
});
