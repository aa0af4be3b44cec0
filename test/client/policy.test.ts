import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  closeCodeAction,
  DECISION_ACKS,
  DedupWindow,
  displayDecision,
  parseRetryAfterMs,
  RETRY_AFTER_MAX_MS,
  ReconnectPolicy,
} from '../../src/client/policy.js';

const settings = fc.record({
  baseMs: fc.integer({ min: 1, max: 10_000 }),
  maxMs: fc.integer({ min: 1, max: 600_000 }),
});
/** Uniform in [0, 1) as Math.random gives it, including the extremes. */
const unit = fc.oneof(
  fc.constant(0),
  fc.constant(1 - Number.EPSILON),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
);

describe('ReconnectPolicy', () => {
  test('full jitter: delay n lies in [0, min(max, base·2^n)]', () => {
    fc.assert(
      fc.property(settings, fc.array(unit, { minLength: 1, maxLength: 40 }), (s, randoms) => {
        const p = new ReconnectPolicy({ ...s, jitter: 'full' });
        const max = Math.max(s.baseMs, s.maxMs); // the policy keeps max ≥ base
        randoms.forEach((r, n) => {
          const d = p.nextDelayMs(() => r);
          const ceiling = Math.min(max, s.baseMs * 2 ** n);
          assert.ok(Number.isInteger(d) && d >= 0 && d <= ceiling, `attempt ${n}: ${d} ∉ [0, ${ceiling}]`);
        });
      }),
    );
  });

  test('no jitter: deterministic, ignores the random source, doubles up to max', () => {
    fc.assert(
      fc.property(settings, fc.array(unit, { minLength: 1, maxLength: 40 }), (s, randoms) => {
        const a = new ReconnectPolicy({ ...s, jitter: 'none' });
        const b = new ReconnectPolicy({ ...s, jitter: 'none' });
        const max = Math.max(s.baseMs, s.maxMs);
        randoms.forEach((r, n) => {
          const d = a.nextDelayMs(() => r);
          assert.equal(
            d,
            b.nextDelayMs(() => 0.5),
          );
          assert.equal(d, Math.min(max, s.baseMs * 2 ** n));
        });
      }),
    );
  });

  test('reset() starts again from base', () => {
    const p = new ReconnectPolicy({ baseMs: 100, maxMs: 10_000, jitter: 'none' });
    assert.deepEqual(
      [1, 2, 3].map(() => p.nextDelayMs(Math.random)),
      [100, 200, 400],
    );
    assert.equal(p.attempt, 3);
    p.reset();
    assert.equal(p.attempt, 0);
    assert.equal(p.nextDelayMs(Math.random), 100);
  });

  test('the attempt counter is capped and the delay stays at max', () => {
    const p = new ReconnectPolicy({ baseMs: 1000, maxMs: 60_000, jitter: 'none' });
    for (let i = 0; i < 1000; i++) p.nextDelayMs(Math.random);
    assert.ok(p.attempt <= 30);
    assert.equal(p.nextDelayMs(Math.random), 60_000);
  });

  test('update() takes valid server settings and ignores invalid fields one by one', () => {
    const p = new ReconnectPolicy();
    assert.deepEqual([p.baseMs, p.maxMs, p.jitter], [1000, 60_000, 'full']);
    assert.equal(p.update({ baseMs: 50, maxMs: 400, jitter: 'none' }), true);
    assert.deepEqual([p.baseMs, p.maxMs, p.jitter], [50, 400, 'none']);
    assert.equal(p.update(undefined), false);
    const junk = { baseMs: -1, maxMs: Number.NaN, jitter: 'sometimes' } as never;
    assert.equal(p.update(junk), false);
    assert.deepEqual([p.baseMs, p.maxMs, p.jitter], [50, 400, 'none']);
    p.update({ baseMs: 1000 }); // max < base: max is raised to base
    assert.deepEqual([p.baseMs, p.maxMs], [1000, 1000]);
    p.update({ baseMs: 1e15, maxMs: 1e15 }); // would overflow a timer: capped
    assert.deepEqual([p.baseMs, p.maxMs], [RETRY_AFTER_MAX_MS, RETRY_AFTER_MAX_MS]);
  });

  test('a server retry-after is a floor for the next delay only; the largest hint wins', () => {
    fc.assert(
      fc.property(settings, fc.integer({ min: 1, max: 120_000 }), unit, (s, floor, r) => {
        const p = new ReconnectPolicy({ ...s, jitter: 'full' });
        p.retryAfter(floor);
        p.retryAfter(floor / 2);
        const ceiling = Math.min(Math.max(s.baseMs, s.maxMs), s.baseMs);
        const d = p.nextDelayMs(() => r);
        assert.ok(d >= floor && d <= floor + ceiling, `${d} ∉ [${floor}, ${floor + ceiling}]`);
        assert.ok(p.nextDelayMs(() => r) <= Math.min(Math.max(s.baseMs, s.maxMs), s.baseMs * 2));
      }),
    );
  });

  test('retry-after: nonsense is ignored and huge values are capped', () => {
    const p = new ReconnectPolicy({ baseMs: 10, maxMs: 10, jitter: 'none' });
    p.retryAfter(Number.NaN);
    p.retryAfter(-5);
    assert.equal(p.floorMs, 0);
    p.retryAfter(1e12);
    assert.equal(p.floorMs, RETRY_AFTER_MAX_MS);
    p.reset();
    assert.equal(p.floorMs, 0);
  });
});

describe('DedupWindow', () => {
  test('matches a reference model and never holds more than capacity ids', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.integer({ min: 0, max: 40 }).map(String), { maxLength: 300 }),
        (capacity, ids) => {
          const w = new DedupWindow(capacity);
          const model: string[] = []; // the last `capacity` distinct first-seen ids
          for (const id of ids) {
            const expectedNew = !model.includes(id);
            assert.equal(w.add(id), expectedNew);
            if (expectedNew) {
              model.push(id);
              if (model.length > capacity) model.shift();
            }
            assert.ok(w.size <= capacity);
            assert.equal(w.size, model.length);
          }
          for (let i = 0; i <= 40; i++) assert.equal(w.has(String(i)), model.includes(String(i)));
        },
      ),
    );
  });

  test('same id twice → the second is a duplicate; clear() forgets', () => {
    const w = new DedupWindow(2);
    assert.equal(w.add('1'), true);
    assert.equal(w.add('1'), false);
    w.clear();
    assert.equal(w.has('1'), false);
    assert.equal(w.add('1'), true);
  });

  test('rejects a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN]) assert.throws(() => new DedupWindow(c), RangeError);
  });
});

describe('displayDecision (SPEC §3 table)', () => {
  const cases: [Parameters<typeof displayDecision>, string][] = [
    [['notification', true, 'background'], 'notify'],
    [['notification', true, 'foreground'], 'data'],
    [['passthrough', true, 'background'], 'data'],
    [['passthrough', true, 'foreground'], 'data'],
    [['notification', false, 'not-running'], 'notify'],
    [['notification', false, 'background'], 'notify'],
    [['passthrough', false, 'not-running'], 'drop'],
    [['passthrough', false, 'background'], 'data'],
  ];
  for (const [args, expected] of cases) {
    test(`${args.join(', ')} → ${expected}`, () => assert.equal(displayDecision(...args), expected));
  }

  test('ACK statuses: received for anything the SDK sees; displayed/opened only for notifications', () => {
    assert.deepEqual(DECISION_ACKS.notify, ['received', 'displayed', 'opened']);
    assert.deepEqual(DECISION_ACKS.data, ['received']);
    assert.deepEqual(DECISION_ACKS.drop, []);
  });
});

describe('closeCodeAction', () => {
  test('bad token and replaced stop; the rest reconnect', () => {
    assert.equal(closeCodeAction(4401), 'stop');
    assert.equal(closeCodeAction(4409, 'replaced'), 'stop');
    for (const code of [1000, 1001, 1006, 1011, 4400, 4408, 4429, 4503, 4999]) {
      assert.equal(closeCodeAction(code, 'whatever'), 'reconnect', String(code));
    }
  });

  test('retry-after=N in the reason → reconnect-after, N seconds', () => {
    assert.equal(closeCodeAction(4503, 'retry-after=2'), 'reconnect-after');
    assert.equal(closeCodeAction(4429, 'slow down; retry-after=1.5'), 'reconnect-after');
    assert.equal(closeCodeAction(4401, 'retry-after=2'), 'stop'); // a bad token stays bad
    assert.equal(parseRetryAfterMs('retry-after=2'), 2000);
    assert.equal(parseRetryAfterMs('moved to bj, retry-after=0.25'), 250);
    assert.equal(parseRetryAfterMs('retry-after=999999999'), RETRY_AFTER_MAX_MS);
    for (const r of [
      '',
      'ezone moved to bj',
      'retry-after=',
      'retry-after=x',
      'noretry-after=3',
      'retry-after=1.2.3',
    ]) {
      assert.equal(parseRetryAfterMs(r), undefined, r);
    }
  });
});
