import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TacoError } from '../../src/core/errors.js';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/sim/scenario/index.js';

describe('durations', () => {
  test('units us ms s m h, and bare numbers as ms', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration('250us'), 0.25);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(1234), 1234);
    assert.equal(parseDuration(' 3s '), 3_000);
  });

  test('anything else is BAD_INPUT saying what a duration looks like', () => {
    for (const bad of ['', '30', 's', '30 s', '1m30s', '-5s', '5sec', '5S', 'NaN', '1e3ms'] as const) {
      assert.equal(tryParseDuration(bad), null, bad);
      assert.throws(
        () => parseDuration(bad),
        (e: unknown) =>
          e instanceof TacoError && e.code === 'BAD_INPUT' && /expected a duration like 30s/.test(e.message),
      );
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, null, undefined, true, {}]) {
      assert.equal(tryParseDuration(bad), null, String(bad));
    }
  });

  test('formatDuration picks the largest exact unit', () => {
    assert.equal(formatDuration(120_000), '2m');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(3_600_000), '1h');
    assert.equal(formatDuration(1_500), '1500ms');
    assert.equal(formatDuration(0), '0ms');
    assert.equal(formatDuration(0.25), '250us');
  });

  test('formatDuration output parses back to the same value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 3_600_000 }), (ms) => {
        assert.equal(parseDuration(formatDuration(ms)), ms);
      }),
    );
  });
});
