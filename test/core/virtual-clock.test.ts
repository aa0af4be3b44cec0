import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VirtualScheduler } from '../../src/sim/virtual-clock.js';

const T = Date.UTC(2025, 0, 1, 0, 0, 0, 123);

describe('virtual scheduler', () => {
  test('timers run at their virtual time, in scheduling order within a millisecond', async () => {
    const c = new VirtualScheduler(T);
    const log: string[] = [];
    c.setTimeout(() => log.push(`b@${c.now() - T}`), 10);
    c.setTimeout(() => log.push(`a@${c.now() - T}`), 5);
    c.setTimeout(() => log.push(`c@${c.now() - T}`), 10);
    c.setTimeout(() => log.push(`z@${c.now() - T}`), 0);
    await c.advance(9);
    assert.deepEqual(log, ['z@0', 'a@5']);
    await c.advance(1);
    assert.deepEqual(log, ['z@0', 'a@5', 'b@10', 'c@10']);
    assert.equal(c.now(), T + 10);
  });

  test('cancel, intervals, and timers scheduled by timers', async () => {
    const c = new VirtualScheduler(T);
    const log: number[] = [];
    const t = c.setTimeout(() => log.push(-1), 5);
    t.cancel();
    const iv = c.setInterval(() => {
      log.push(c.now() - T);
      if (c.now() - T === 30) iv.cancel();
      c.setTimeout(() => log.push(c.now() - T + 0.5), 0);
    }, 10);
    await c.advance(100);
    assert.deepEqual(log, [10, 10.5, 20, 20.5, 30, 30.5]);
    assert.equal(c.pending, 0);
  });

  test('promise continuations run at the virtual time that caused them', async () => {
    const c = new VirtualScheduler(T);
    const seen: number[] = [];
    c.setTimeout(() => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => {
          seen.push(c.now() - T);
          c.setTimeout(() => seen.push(c.now() - T), 0);
        });
    }, 7);
    await c.advance(20);
    assert.deepEqual(seen, [7, 7]);
  });

  test('events far beyond the ring (≈65 s) and long intervals fire on time', async () => {
    const c = new VirtualScheduler(T);
    const log: number[] = [];
    c.setTimeout(() => log.push(c.now() - T), 200_000);
    c.setTimeout(() => log.push(c.now() - T), 65_536);
    c.setTimeout(() => log.push(c.now() - T), 65_535);
    const iv = c.setInterval(() => log.push(c.now() - T), 70_000);
    await c.advance(250_000);
    iv.cancel();
    assert.deepEqual(log, [65_535, 65_536, 70_000, 140_000, 200_000, 210_000]);
  });

  test('typed events interleave with closures deterministically', async () => {
    const run = async () => {
      const c = new VirtualScheduler(T);
      const log: string[] = [];
      c.onTyped = (kind, target) => {
        log.push(`k${kind}:${target}@${c.now() - T}`);
        if (kind === 1) c.at(c.now() + 3, 2, target);
      };
      c.at(T + 5, 1, 42);
      c.setTimeout(() => log.push(`f@${c.now() - T}`), 5);
      c.at(T + 100_000, 3, 7);
      await c.advance(100_000);
      return log;
    };
    const a = await run();
    assert.deepEqual(a, ['k1:42@5', 'f@5', 'k2:42@8', 'k3:7@100000']);
    assert.deepEqual(await run(), a);
  });
});
