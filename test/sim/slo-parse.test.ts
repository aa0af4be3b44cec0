import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  formatSlo,
  OPERATORS,
  parseSlo,
  type Slo,
  SloError,
  type SloWindow,
  THRESHOLD_UNITS,
  thresholdValue,
} from '../../src/sim/slo/index.js';

describe('SLO grammar', () => {
  test('the SPEC examples', () => {
    assert.deepEqual(parseSlo('p(99)(push.latency) < 2s'), {
      type: 'threshold',
      agg: 'p',
      q: 99,
      metric: 'push.latency',
      tags: {},
      op: '<',
      value: 2,
      unit: 's',
      window: null,
    });
    assert.deepEqual(parseSlo('count(push.lost) == 0'), {
      type: 'threshold',
      agg: 'count',
      q: null,
      metric: 'push.lost',
      tags: {},
      op: '==',
      value: 0,
      unit: null,
      window: null,
    });
    const w = parseSlo('p(99)(push.latency) < 5s within 3m after dns-failover');
    assert.deepEqual(w.window, { durationMs: 180_000, after: 'dns-failover' });
    assert.deepEqual(parseSlo('sometimes(reconnect.storm)'), {
      type: 'sometimes',
      event: 'reconnect.storm',
      window: null,
    });
  });

  test('every aggregation and operator', () => {
    for (const agg of ['avg', 'min', 'max', 'med', 'count', 'rate'] as const) {
      const s = parseSlo(`${agg}(m) > 1`);
      assert.equal(s.type === 'threshold' && s.agg, agg);
    }
    const p = parseSlo('p(99.9)(m) > 1');
    assert.equal(p.type === 'threshold' && p.q, 99.9);
    for (const op of OPERATORS) {
      const s = parseSlo(`avg(m) ${op} 1`);
      assert.equal(s.type === 'threshold' && s.op, op);
      const tight = parseSlo(`avg(m)${op}1`);
      assert.equal(tight.type === 'threshold' && tight.op, op, 'no spaces needed');
    }
  });

  test('units: durations compare in ms, % as a fraction, plain numbers as is', () => {
    const v = (text: string) => {
      const s = parseSlo(text);
      assert.equal(s.type, 'threshold');
      return thresholdValue(s as Extract<Slo, { type: 'threshold' }>);
    };
    assert.equal(v('avg(m) < 250ms'), 250);
    assert.equal(v('avg(m) < 2s'), 2_000);
    assert.equal(v('avg(m) < 1.5m'), 90_000);
    assert.equal(v('avg(m) < 1h'), 3_600_000);
    assert.equal(v('avg(m) < 5%'), 0.05);
    assert.equal(v('avg(m) < 42'), 42);
    assert.equal(v('avg(m) > -3.5'), -3.5);
    assert.equal(v('rate(m) < 1e3'), 1_000);
    assert.deepEqual(parseSlo('sometimes(e) within 90000 after f').window, {
      durationMs: 90_000,
      after: 'f',
    });
  });

  test('tag filters, bare or quoted', () => {
    const s = parseSlo('avg(sessions.online{ezone:sh, node:"gw 1"}) > 0');
    assert.deepEqual(s.type === 'threshold' && s.tags, { ezone: 'sh', node: 'gw 1' });
    assert.equal(formatSlo(s), 'avg(sessions.online{ezone:sh,node:"gw 1"}) > 0');
  });

  test('spaces are free between tokens', () => {
    const canonical = parseSlo('p(99)(push.latency{ezone:sh}) < 5s within 3m after dns-failover');
    assert.deepEqual(
      parseSlo('  p ( 99 ) ( push.latency { ezone : sh } )  <  5s  within  3m  after  dns-failover  '),
      canonical,
    );
  });

  const errors: [string, number, RegExp][] = [
    ['', 1, /expected an aggregation \(avg min max med count rate p\) or sometimes, found end of text/],
    ['foo(x) < 1', 1, /expected an aggregation/],
    ['p(0)(x) < 1', 3, /percentile above 0 and at most 100/],
    ['p(101)(x) < 1', 3, /percentile above 0 and at most 100/],
    ['p99(x) < 1', 2, /"\(" and a percentile/],
    ['avg(x < 1', 7, /expected "\{" or "\)"/],
    ['avg() < 1', 5, /expected a metric name/],
    ['avg(x) =< 1', 8, /expected an operator/],
    ['avg(x) < ', 10, /expected a number, found end of text/],
    ['avg(x) < 2x', 11, /expected a unit \(ms s m h %\) or nothing/],
    ['avg(x) < 2 s', 12, /expected "within DURATION after FAULT" or the end/],
    ['avg(x) < 1 within 3m', 21, /expected "after"/],
    ['avg(x) < 1 within 3d after f', 20, /duration unit/],
    ['avg(x) < 1 within 3m after', 27, /fault name or kind/],
    ['sometimes()', 11, /expected an event name/],
    ['avg(x{a}) < 1', 8, /expected ":"/],
    ['avg(x{a:1,a:2}) < 1', 11, /given twice/],
    ['avg(x{a:1 b:2}) < 1', 11, /expected "," or "\}"/],
  ];
  for (const [text, column, message] of errors) {
    test(`error at column ${column}: ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseSlo(text),
        (e: unknown) => {
          assert.ok(e instanceof SloError);
          assert.equal(e.code, 'BAD_INPUT');
          assert.equal(e.column, column, e.message);
          assert.match(e.message, message);
          assert.ok(e.message.startsWith(`SLO "${text}": column ${column}: `), e.message);
          return true;
        },
      );
    });
  }

  const name = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}$/);
  const window: fc.Arbitrary<SloWindow | null> = fc.option(
    fc.record({ durationMs: fc.integer({ min: 0, max: 10 * 3_600_000 }), after: name }),
    { nil: null },
  );
  const number = fc
    .double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 })
    .map((v) => (v === 0 ? 0 : v));
  const threshold: fc.Arbitrary<Slo> = fc
    .record({
      agg: fc.constantFrom('avg', 'min', 'max', 'med', 'count', 'rate', 'p' as const),
      q: fc.double({ min: Number.MIN_VALUE, max: 100, noNaN: true }),
      metric: name,
      tags: fc.dictionary(name, fc.string(), { maxKeys: 3 }),
      op: fc.constantFrom(...OPERATORS),
      value: number,
      unit: fc.constantFrom(null, ...THRESHOLD_UNITS),
      window,
    })
    .map((r) => ({ type: 'threshold' as const, ...r, q: r.agg === 'p' ? r.q : null }));
  const sometimes: fc.Arbitrary<Slo> = fc.record({
    type: fc.constant('sometimes' as const),
    event: name,
    window,
  });

  test('print/parse round trip (property)', () => {
    fc.assert(
      fc.property(fc.oneof(threshold, sometimes), (slo) => {
        const text = formatSlo(slo);
        // JSON clone: fast-check builds objects without a prototype.
        assert.deepEqual(parseSlo(text), JSON.parse(JSON.stringify(slo)), text);
        assert.equal(formatSlo(parseSlo(text)), text);
      }),
      { numRuns: 500 },
    );
  });
});
