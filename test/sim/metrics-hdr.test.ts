import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MetricRegistry, MetricsRecorder, msToUs, newHistogram } from '../../src/sim/metrics/index.js';

function recorder() {
  const registry = new MetricRegistry().register({
    name: 'lat',
    kind: 'histogram',
    unit: 'ms',
    description: '',
  });
  return new MetricsRecorder({ registry, bucketMs: 1_000 });
}

/** Nearest rank, as HDR counts it: the smallest value with at least q% of the values at or below it. */
function nearestRankUs(sortedUs: number[], q: number): number {
  const rank = Math.max(1, Math.ceil((q / 100) * sortedUs.length - 1e-9));
  return sortedUs[rank - 1]!;
}

const sample = fc.record({
  // value in ms (0 .. 1 h, fractional) and when it was observed (0 .. 60 s)
  obs: fc.array(
    fc.tuple(fc.double({ min: 0, max: 3_600_000, noNaN: true }), fc.integer({ min: 0, max: 60_000 })),
    {
      minLength: 1,
      maxLength: 400,
    },
  ),
  q: fc.constantFrom(1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100),
  ezones: fc.array(fc.constantFrom('sh', 'bj', 'gz'), { minLength: 1, maxLength: 400 }),
});

function record(obs: [number, number][], ezones: string[]): MetricsRecorder {
  const r = recorder();
  const sorted = [...obs].sort((a, b) => a[1] - b[1]);
  sorted.forEach(([v, t], i) => {
    r.setTime(t);
    r.observe('lat', v, { ezone: ezones[i % ezones.length]! });
  });
  r.setTime(60_000);
  return r;
}

describe('HDR histograms in the recorder', () => {
  test('merged buckets give the brute-force percentile to HDR precision (property)', () => {
    const ref = newHistogram();
    fc.assert(
      fc.property(sample, ({ obs, q, ezones }) => {
        const r = record(obs, ezones);
        const us = obs.map(([v]) => msToUs(v)).sort((a, b) => a - b);
        const exact = nearestRankUs(us, q);
        const h = r.histogram('lat')!;
        const got = h.percentile(q);
        // HDR reports the highest value of the slot holding the exact percentile, kept within [min, max]…
        const slotTop = ref.highestEquivalentValue(exact) / 1000;
        assert.equal(got, Math.min(Math.max(slotTop, h.minMs), h.maxMs));
        // …which is within 0.1% (3 significant digits) of it (+1 µs for rounding ms to µs).
        assert.ok(Math.abs(got * 1000 - exact) <= exact * 0.001 + 1, `${got} vs ${exact / 1000}`);
      }),
      { numRuns: 150 },
    );
  });

  test('merging per-bucket, per-tag histograms equals one histogram of everything (property)', () => {
    fc.assert(
      fc.property(sample, ({ obs, q, ezones }) => {
        const r = record(obs, ezones);
        const direct = newHistogram();
        for (const [v] of obs) direct.recordValue(msToUs(v));
        const merged = r.histogram('lat')!;
        assert.equal(merged.count, obs.length);
        const top = direct.getValueAtPercentile(q) / 1000;
        assert.equal(merged.percentile(q), Math.min(Math.max(top, merged.minMs), merged.maxMs));
        // exact stats, not HDR-rounded ones
        assert.equal(merged.maxMs, Math.max(...obs.map(([v]) => v)));
        assert.equal(merged.minMs, Math.min(...obs.map(([v]) => v)));
      }),
      { numRuns: 150 },
    );
  });

  test('a window merges exactly the buckets it covers (property)', () => {
    fc.assert(
      fc.property(
        sample,
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 1, max: 60 }),
        ({ obs, q, ezones }, fromSec, lenSec) => {
          const r = record(obs, ezones);
          const from = fromSec * 1000;
          const to = from + lenSec * 1000;
          const inside = obs.filter(([, t]) => t >= from && (t < to || (to >= 60_000 && t <= 60_000)));
          const h = r.histogram('lat', {}, r.window(from, to));
          if (inside.length === 0) {
            assert.equal(h, null);
            return;
          }
          const direct = newHistogram();
          for (const [v] of inside) direct.recordValue(msToUs(v));
          assert.equal(h!.count, inside.length);
          const top = direct.getValueAtPercentile(q) / 1000;
          assert.equal(h!.percentile(q), Math.min(Math.max(top, h!.minMs), h!.maxMs));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('values are clamped to 0 .. 1 h', () => {
    assert.equal(msToUs(-5), 0);
    assert.equal(msToUs(2 * 3_600_000), 3_600_000_000);
    assert.equal(msToUs(1.2345), 1235);
    const r = recorder();
    r.observe('lat', 10 * 3_600_000);
    assert.equal(r.histogram('lat')!.percentile(50), 10 * 3_600_000, 'within [min, max]');
    assert.equal(r.histogram('lat')!.maxMs, 10 * 3_600_000, 'exact max is kept unclamped');
  });
});
