import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TacoError } from '../../src/core/errors.js';
import {
  decodeMsgId,
  encodeMsgId,
  MAX_NODE,
  MAX_SHARD,
  MSGID_EPOCH_MS,
  MsgIdGenerator,
  shardOfMsgId,
} from '../../src/core/msgid.js';
import { FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

const MAX_TIME_OFFSET = 2 ** 41 - 1;
const parts = fc.record(
  {
    timeMs: fc.integer({ min: 0, max: MAX_TIME_OFFSET }).map((t) => t + MSGID_EPOCH_MS),
    shard: fc.integer({ min: 0, max: MAX_SHARD }),
    node: fc.integer({ min: 0, max: MAX_NODE }),
    seq: fc.integer({ min: 0, max: 1023 }),
  },
  { noNullPrototype: true },
);

function badInput(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TacoError, `expected TacoError, got ${String(e)}`);
    assert.equal(e.code, 'BAD_INPUT');
    assert.match(e.message, re);
    return true;
  });
}

describe('message id codec', () => {
  test('encode → decode round-trips over the full ranges', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const id = encodeMsgId(p);
        assert.match(id, /^[0-9]{1,20}$/);
        assert.ok(BigInt(id) < 1n << 64n);
        assert.deepEqual(decodeMsgId(id), p);
        assert.equal(shardOfMsgId(id), p.shard);
      }),
      { numRuns: 2000 },
    );
  });

  test('extremes round-trip and the layout matches the spec', () => {
    const lo = { timeMs: MSGID_EPOCH_MS, shard: 0, node: 0, seq: 0 };
    const hi = { timeMs: MSGID_EPOCH_MS + MAX_TIME_OFFSET, shard: 31, node: 255, seq: 1023 };
    assert.equal(encodeMsgId(lo), '0');
    assert.equal(encodeMsgId(hi), ((1n << 64n) - 1n).toString());
    assert.deepEqual(decodeMsgId(encodeMsgId(hi)), hi);
    // 41 | 5 | 8 | 10
    const id = BigInt(encodeMsgId({ timeMs: MSGID_EPOCH_MS + 1, shard: 2, node: 3, seq: 4 }));
    assert.equal(id, (1n << 23n) | (2n << 18n) | (3n << 10n) | 4n);
  });

  test('any u64 decimal decodes and re-encodes to itself', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const id = v.toString();
        assert.equal(encodeMsgId(decodeMsgId(id)), id);
      }),
    );
  });

  test('k-sortable: a later time gives a larger id whatever the other fields', () => {
    fc.assert(
      fc.property(parts, parts, (a, b) => {
        fc.pre(a.timeMs !== b.timeMs);
        const [early, late] = a.timeMs < b.timeMs ? [a, b] : [b, a];
        assert.ok(BigInt(encodeMsgId(early)) < BigInt(encodeMsgId(late)));
      }),
      { numRuns: 2000 },
    );
  });

  test('bad ids are rejected with BAD_INPUT and a clear message', () => {
    for (const bad of ['', 'abc', '-1', '1.5', ' 12', '12 ', '0x10', '1e3', '123456789012345678901']) {
      badInput(() => decodeMsgId(bad), /decimal unsigned 64-bit integer/);
    }
    badInput(() => decodeMsgId(String(1n << 64n)), /exceeds 64 bits/);
    badInput(() => decodeMsgId('99999999999999999999'), /exceeds 64 bits/);
    badInput(() => decodeMsgId(undefined as unknown as string), /decimal unsigned 64-bit integer/);
    badInput(() => decodeMsgId(12 as unknown as string), /decimal unsigned 64-bit integer/);
  });

  test('out-of-range parts are rejected with BAD_INPUT naming the part', () => {
    const ok = { timeMs: MSGID_EPOCH_MS, shard: 0, node: 0, seq: 0 };
    badInput(() => encodeMsgId({ ...ok, timeMs: MSGID_EPOCH_MS - 1 }), /time out of range/);
    badInput(() => encodeMsgId({ ...ok, timeMs: MSGID_EPOCH_MS + MAX_TIME_OFFSET + 1 }), /time out of range/);
    badInput(() => encodeMsgId({ ...ok, shard: 32 }), /shard out of range/);
    badInput(() => encodeMsgId({ ...ok, shard: -1 }), /shard out of range/);
    badInput(() => encodeMsgId({ ...ok, node: 256 }), /node out of range/);
    badInput(() => encodeMsgId({ ...ok, seq: 1024 }), /sequence out of range/);
    badInput(() => new MsgIdGenerator(256, () => MSGID_EPOCH_MS), /node id must be an integer/);
    badInput(() => new MsgIdGenerator(1.5, () => MSGID_EPOCH_MS), /node id must be an integer/);
  });
});

describe('message id generator', () => {
  test('ids are unique and strictly increasing across >1024 ids in one millisecond', () => {
    const t = Date.UTC(2025, 5, 1);
    const gen = new MsgIdGenerator(7, () => t);
    let prev = -1n;
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = gen.next(9);
      const v = BigInt(id);
      assert.ok(v > prev, `id ${i} not increasing`);
      prev = v;
      seen.add(id);
      const p = decodeMsgId(id);
      assert.equal(p.node, 7);
      assert.equal(p.shard, 9);
      // Borrowing: the 1025th id of a millisecond moves to the next one.
      assert.equal(p.timeMs, t + Math.floor(i / 1024));
      assert.equal(p.seq, i % 1024);
    }
    assert.equal(seen.size, 5000);
  });

  test('ids stay unique when consecutive ids go to different shards', () => {
    const t = Date.UTC(2025, 5, 1);
    const gen = new MsgIdGenerator(7, () => t);
    const seen = new Set<string>();
    const seqTime = new Set<string>();
    for (let i = 0; i < 4096; i++) {
      const id = gen.next(i % 32);
      seen.add(id);
      const p = decodeMsgId(id);
      assert.equal(p.shard, i % 32);
      // (time, seq) alone is unique per node: the shard never disambiguates.
      seqTime.add(`${p.timeMs}/${p.seq}`);
    }
    assert.equal(seen.size, 4096);
    assert.equal(seqTime.size, 4096);
  });

  test('after borrowing, time catching up keeps ids increasing; a clock going back never repeats an id', () => {
    let now = Date.UTC(2025, 5, 1);
    const gen = new MsgIdGenerator(1, () => now);
    const ids: bigint[] = [];
    for (let i = 0; i < 3000; i++) ids.push(BigInt(gen.next(0)));
    now += 1; // real time reaches a borrowed millisecond
    for (let i = 0; i < 100; i++) ids.push(BigInt(gen.next(0)));
    now -= 50; // clock steps back
    for (let i = 0; i < 2000; i++) ids.push(BigInt(gen.next(0)));
    now += 10_000;
    for (let i = 0; i < 10; i++) ids.push(BigInt(gen.next(0)));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `id ${i} not increasing`);
  });

  test('generator output is monotone under any sequence of clock moves (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 3000 }), (moves) => {
        let now = Date.UTC(2025, 0, 1);
        const gen = new MsgIdGenerator(3, () => now);
        let prev = -1n;
        for (const m of moves) {
          now += m;
          const v = BigInt(gen.next(5));
          assert.ok(v > prev);
          prev = v;
        }
      }),
      { numRuns: 50 },
    );
  });
});
