/**
 * parseSendRequest checks the common request by hand before the schema: it must give the schema's
 * answers, the same request or the same error (message and field), for any input.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { TacoError } from '../../src/core/errors.js';
import { parseSendRequest, parseSendRequestBySchema } from '../../src/core/send-request.js';
import { FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

const outcome = (parse: (b: unknown) => unknown, body: unknown): unknown => {
  try {
    return { ok: parse(body) };
  } catch (e) {
    const t = e as TacoError;
    return { code: t.code, message: t.message, details: t.details };
  }
};

const str = (max: number) => fc.string({ maxLength: max });
const id = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.constantFrom('', 'x'.repeat(256), 'x'.repeat(257)),
);
const value = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer({ min: -5, max: 5 }),
  fc.double(),
  fc.constantFrom(2 ** 53, 2 ** 60, 1.5),
  str(5),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const dataArb = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  fc.constant(JSON.parse('{"__proto__":{"x":1},"a":2}')),
  fc.constant({ big: 'x'.repeat(5000) }),
  value,
);
const toArb = fc.oneof(
  fc.record({ devices: fc.array(id, { minLength: 0, maxLength: 3 }) }),
  fc.record({ devices: fc.array(id, { minLength: 1, maxLength: 2 }), users: fc.array(id, { maxLength: 1 }) }),
  fc.record({ users: fc.array(id, { minLength: 1, maxLength: 2 }) }),
  fc.record({ all: fc.constantFrom(true, false) }),
  fc.constant({ devices: Array.from({ length: 1001 }, (_, i) => `d${i}`) }),
  value,
);
const bodyArb = fc.record(
  {
    to: toArb,
    kind: fc.oneof(fc.constantFrom('notification', 'passthrough', 'other'), value),
    title: fc.oneof(str(10), fc.constant('t'.repeat(257)), value),
    body: fc.oneof(str(10), fc.constant('b'.repeat(4097)), value),
    data: dataArb,
    priority: fc.oneof(fc.constantFrom('high', 'normal', 'low', 'urgent'), value),
    ttl: fc.oneof(fc.integer({ min: -2, max: 100_000 }), value),
    idempotencyKey: fc.oneof(str(10), fc.constantFrom('', 'k'.repeat(129)), value),
    extra: value,
  },
  { requiredKeys: [] },
);

describe('parseSendRequest', () => {
  test('gives the schema’s answer for any body: the same request, or the same error', () => {
    fc.assert(
      fc.property(fc.oneof(bodyArb, value), (body) => {
        assert.deepEqual(outcome(parseSendRequest, body), outcome(parseSendRequestBySchema, body));
      }),
      { numRuns: 5000 },
    );
  });

  test('the common request, as JSON text parses it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom('notification', 'passthrough'),
        fc.option(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), {
          nil: undefined,
        }),
        fc.option(fc.integer({ min: 1, max: 86_400 }), { nil: undefined }),
        (devices, kind, data, ttl) => {
          const body = JSON.parse(JSON.stringify({ to: { devices }, kind, data, ttl }));
          const r = outcome(parseSendRequest, body);
          assert.deepEqual(r, outcome(parseSendRequestBySchema, body));
        },
      ),
    );
  });

  test('given the length of the source text, the same answer as without it', () => {
    // Raw JSON texts, numbers written short with exponents (they re-serialise up to 5.25× longer:
    // `1e20` is 21 digits), strings with escapes (they re-serialise shorter), and padding.
    const num = fc.oneof(
      fc.integer({ min: 1, max: 9 }).chain((d) => fc.integer({ min: 0, max: 21 }).map((e) => `${d}e${e}`)),
      fc.constantFrom('0', '-0', '1E+20', '1.5e-7', '12e19'),
    );
    const strText = fc.oneof(
      fc.string({ maxLength: 8 }).map((x) => JSON.stringify(x)),
      fc.constantFrom('"\\u00e9"', '"\\n"', '"\\ud800"'),
    );
    const leaf = fc.oneof(num, strText, fc.constantFrom('true', 'null'));
    const dataText = fc
      .array(
        fc.tuple(
          fc.string({ maxLength: 4 }),
          fc.oneof(
            leaf,
            fc.array(num, { maxLength: 40 }).map((a) => `[${a.join(',')}]`),
          ),
        ),
        { maxLength: 40 },
      )
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(' , ')}}`);
    fc.assert(
      fc.property(dataText, fc.nat({ max: 3 }), (data, pad) => {
        const text = `{"to":{"devices":["d"]},"kind":"passthrough"${' '.repeat(pad)},"data":${data}}`;
        const body = JSON.parse(text);
        assert.deepEqual(
          outcome((b) => parseSendRequest(b, text.length), body),
          outcome(parseSendRequestBySchema, body),
        );
      }),
      { numRuns: 3000 },
    );
    // Past the bound the size is still checked: 200 `1e20`s (1 KB of text) re-serialise to 4.4 KB.
    const many = `{"to":{"devices":["d"]},"kind":"passthrough","data":{"a":[${Array(200).fill('1e20').join(',')}]}}`;
    assert.ok(many.length * 6 > 4096);
    assert.throws(() => parseSendRequest(JSON.parse(many), many.length), /data: larger than 4096 bytes/);
  });

  test('errors name the field', () => {
    assert.throws(
      () => parseSendRequest({ to: { devices: ['d'] }, kind: 'notification', ttl: 0 }),
      (e: TacoError) => e.code === 'INVALID_ARGUMENT' && e.message.startsWith('ttl:'),
    );
    assert.throws(
      () => parseSendRequest({ to: { devices: [''] }, kind: 'notification' }),
      (e: TacoError) => e.message.startsWith('to.devices.0:'),
    );
    assert.throws(
      () =>
        parseSendRequest({ to: { devices: ['d'] }, kind: 'passthrough', data: { big: 'x'.repeat(5000) } }),
      (e: TacoError) => e.message === 'data: larger than 4096 bytes',
    );
  });
});
