import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TimingWheel, type WheelEntry } from '../../src/core/timing-wheel.js';
import { FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

class E implements WheelEntry {
  wheelPrev: WheelEntry | null = null;
  wheelNext: WheelEntry | null = null;
  wheelDeadline = Number.NaN;
  wheelSlot = 0;
  wheelWant = 0;
  wheelSeq = 0;
  expiredAt: number | undefined;
  constructor(readonly name: string) {}
}

function collect(w: TimingWheel<E>, now: number): E[] {
  const out: E[] = [];
  w.advance(now, (e) => {
    e.expiredAt = now;
    out.push(e);
  });
  return out;
}

describe('timing wheel', () => {
  test('touch / remove / advance', () => {
    const w = new TimingWheel<E>(100, 16, 0);
    const a = new E('a');
    const b = new E('b');
    const c = new E('c');
    w.touch(a, 250);
    w.touch(b, 250);
    w.touch(c, 500);
    assert.equal(w.size, 3);
    w.remove(b);
    w.remove(b); // idempotent
    assert.equal(w.size, 2);
    assert.deepEqual(collect(w, 200), []);
    assert.deepEqual(
      collect(w, 300).map((e) => e.name),
      ['a'],
    );
    assert.ok(Number.isNaN(a.wheelDeadline), 'an expired entry is unlinked');
    // Re-touching pushes the deadline out.
    w.touch(c, 900);
    assert.deepEqual(collect(w, 600), []);
    assert.deepEqual(
      collect(w, 900).map((e) => e.name),
      ['c'],
    );
    assert.equal(w.size, 0);
    // An expired entry can be scheduled again.
    w.touch(a, 1000);
    assert.equal(w.size, 1);
    assert.deepEqual(
      collect(w, 1000).map((e) => e.name),
      ['a'],
    );
  });

  test('entries expire within one tick of their deadline, never before (advance every ms)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 2000 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (tickMs, slots, start, plan) => {
          // plan: [when to touch (offset), deadline offset from that moment]; deadlines go far beyond one revolution.
          const w = new TimingWheel<E>(tickMs, slots, start);
          const entries = plan.map(([at, d], i) => ({
            e: new E(String(i)),
            at: start + at,
            deadline: start + at + d,
          }));
          const end = start + 5200;
          for (let now = start; now <= end; now++) {
            for (const x of entries) if (x.at === now) w.touch(x.e, x.deadline);
            collect(w, now);
          }
          for (const x of entries) {
            assert.ok(x.e.expiredAt !== undefined, `entry ${x.e.name} never expired`);
            assert.ok(x.e.expiredAt >= x.deadline, `entry ${x.e.name} expired early`);
            // A deadline already passed when touched fires on the next tick.
            const due = Math.max(x.deadline, x.at);
            assert.ok(
              x.e.expiredAt < due + tickMs,
              `entry ${x.e.name} expired ${x.e.expiredAt - due} ms late (tick ${tickMs})`,
            );
          }
          assert.equal(w.size, 0);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('advancing once per tick from an unaligned phase still fires within one tick of the deadline', () => {
    // The gateway's tick is a setInterval started whenever the gateway was built, so
    // advance() runs at start + k·tick, not at multiples of tick.
    for (const phase of [0, 1, 250, 500, 999]) {
      const tick = 1000;
      const start = 1_000_000 + phase;
      const w = new TimingWheel<E>(tick, 64, start);
      const es: E[] = [];
      for (let d = 0; d < 3000; d += 37) {
        const e = new E(String(d));
        w.touch(e, start + 5000 + d);
        es.push(e);
      }
      for (let now = start + tick; now <= start + 20_000; now += tick) collect(w, now);
      for (const e of es) {
        assert.ok(e.expiredAt! >= e.wheelDeadline || Number.isNaN(e.wheelDeadline));
        const deadline = start + 5000 + Number(e.name);
        assert.ok(e.expiredAt! >= deadline, 'early');
        assert.ok(
          e.expiredAt! - deadline < tick,
          `phase ${phase}: deadline ${deadline - start} fired at ${e.expiredAt! - start} (${e.expiredAt! - deadline} ms late)`,
        );
      }
    }
  });

  test('far deadlines beyond one revolution wait for their turn', () => {
    const w = new TimingWheel<E>(10, 4, 0); // one revolution = 40 ms
    const far = new E('far');
    const near = new E('near');
    w.touch(far, 1005);
    w.touch(near, 15);
    const fired: string[] = [];
    for (let now = 0; now <= 2000; now += 10) {
      for (const e of collect(w, now)) fired.push(`${e.name}@${now}`);
    }
    assert.deepEqual(fired, ['near@20', 'far@1010']);
  });

  test('clock jumps: everything due fires exactly once, the rest stays', () => {
    const w = new TimingWheel<E>(10, 8, 0);
    const es = Array.from({ length: 200 }, (_, i) => new E(String(i)));
    for (const [i, e] of es.entries()) w.touch(e, i * 50); // 0 .. 9950
    const fired = collect(w, 5000); // jump 62 revolutions at once
    assert.deepEqual(
      fired.map((e) => Number(e.name)).sort((a, b) => a - b),
      [...Array(101).keys()],
    );
    assert.equal(w.size, 99);
    // A jump backwards fires nothing.
    assert.deepEqual(collect(w, 100), []);
    const rest = collect(w, 1_000_000);
    assert.equal(rest.length, 99);
    assert.equal(w.size, 0);
    // After a jump, new deadlines are honoured relative to the new time.
    const e = new E('late');
    w.touch(e, 1_000_025);
    assert.deepEqual(collect(w, 1_000_020), []);
    assert.deepEqual(
      collect(w, 1_000_030).map((x) => x.name),
      ['late'],
    );
  });

  test('a deadline in the past fires on the next tick; re-touch moves an entry between slots', () => {
    const w = new TimingWheel<E>(10, 8, 1000);
    const a = new E('a');
    w.touch(a, 0);
    assert.deepEqual(collect(w, 1000), []);
    assert.deepEqual(
      collect(w, 1010).map((x) => x.name),
      ['a'],
    );
    const b = new E('b');
    const c = new E('c');
    w.touch(b, 1050);
    w.touch(c, 1050);
    w.touch(b, 1070);
    w.touch(b, 1040);
    assert.equal(w.size, 2);
    assert.deepEqual(
      collect(w, 1040).map((x) => x.name),
      ['b'],
    );
    assert.deepEqual(
      collect(w, 1050).map((x) => x.name),
      ['c'],
    );
  });

  test('removing entries during expiry callbacks keeps the lists consistent', () => {
    const w = new TimingWheel<E>(10, 8, 0);
    const es = Array.from({ length: 10 }, (_, i) => new E(String(i)));
    for (const e of es) w.touch(e, 10);
    const other = Array.from({ length: 10 }, (_, i) => new E(`o${i}`));
    for (const e of other) w.touch(e, 20);
    const fired: string[] = [];
    w.advance(10, (e) => {
      fired.push(e.name);
      // The callback of an expiring entry removes an unrelated entry in another slot.
      const o = other[Number(e.name)]!;
      w.remove(o);
    });
    assert.equal(fired.length, 10);
    assert.equal(w.size, 0);
    assert.deepEqual(collect(w, 100), []);
  });
});
