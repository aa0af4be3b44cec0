import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TacoError } from '../../src/core/errors.js';
import {
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeServerFrame,
  MAX_FRAME_BYTES,
  type ServerFrame,
  utf8Length,
  validateClientFrame,
} from '../../src/core/protocol.js';
import { FC_SEED } from '../helpers/core-harness.js';

fc.configureGlobal({ seed: FC_SEED });

const DECODE_CODES = new Set(['BAD_FRAME', 'UNKNOWN_OP', 'FRAME_TOO_LARGE']);
const KNOWN_OPS = ['hello', 'ping', 'ack', 'state', 'register', 'up'];

const nonEmpty = (max: number) => fc.string({ unit: 'binary', minLength: 1, maxLength: max });
/** Strings whose UTF-16 length is within [1, max] (the decoder counts code units). */
const boundedStr = (max: number) => nonEmpty(max).filter((s) => s.length <= max);
const jsonObject = fc.dictionary(
  fc.string().filter((k) => k !== '__proto__'),
  fc.jsonValue({ maxDepth: 3 }),
  { maxKeys: 5, noNullPrototype: true },
);

const helloArb = fc
  .record(
    {
      op: fc.constant('hello' as const),
      token: boundedStr(200),
      platform: fc.constantFrom('android', 'ios', 'h5'),
      appState: fc.constantFrom('foreground', 'background'),
      configVersion: fc.nat(),
      lastAck: boundedStr(32),
    },
    { requiredKeys: ['op', 'token', 'platform', 'appState'], noNullPrototype: true },
  )
  .map((f) => f as ClientFrame);

const frameArb: fc.Arbitrary<ClientFrame> = fc.oneof(
  helloArb,
  fc.constant({ op: 'ping' } as ClientFrame),
  fc.record(
    {
      op: fc.constant('ack' as const),
      id: boundedStr(32),
      status: fc.constantFrom('received', 'displayed', 'opened'),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    { op: fc.constant('state' as const), appState: fc.constantFrom('foreground', 'background') },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      op: fc.constant('register' as const),
      channel: fc.constantFrom('apns', 'fcm', 'vendor'),
      token: boundedStr(300),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    { op: fc.constant('up' as const), id: boundedStr(128), data: jsonObject },
    { noNullPrototype: true },
  ),
);

function decodeError(fn: () => unknown, code: string, re?: RegExp): TacoError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TacoError, `expected a TacoError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.closeCode, 4400);
  if (re) assert.match(caught.message, re);
  return caught;
}

describe('client frame codec', () => {
  test('valid frames round-trip through JSON and decode equal', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const text = JSON.stringify(f);
        const decoded = decodeClientFrame(text);
        assert.deepEqual(decoded, JSON.parse(text));
        assert.deepEqual(decoded, f);
      }),
      { numRuns: 1000 },
    );
  });

  test('extra fields are dropped, never passed through', () => {
    const d = decodeClientFrame(JSON.stringify({ op: 'ping', evil: 1 }));
    assert.deepEqual(d, { op: 'ping' });
    const a = decodeClientFrame(JSON.stringify({ op: 'ack', id: '1', status: 'received', x: 2 }));
    assert.deepEqual(a, { op: 'ack', id: '1', status: 'received' });
  });

  test('random text never throws anything but a decoding TacoError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        try {
          const f = decodeClientFrame(text);
          assert.ok(KNOWN_OPS.includes(f.op));
        } catch (e) {
          assert.ok(e instanceof TacoError, `non-TacoError ${String(e)}`);
          assert.ok(DECODE_CODES.has(e.code), e.code);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('random JSON (including objects with known ops and wrong fields) never throws anything but TacoError', () => {
    const fieldValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 40 }));
    const frameLike = fc.record(
      {
        op: fc.oneof(fc.constantFrom(...KNOWN_OPS, 'push', '__proto__', 'toString'), fieldValue),
        token: fieldValue,
        platform: fc.oneof(fc.constantFrom('android', 'ios', 'h5'), fieldValue),
        appState: fc.oneof(fc.constantFrom('foreground', 'background'), fieldValue),
        configVersion: fieldValue,
        lastAck: fieldValue,
        id: fieldValue,
        status: fc.oneof(fc.constantFrom('received', 'displayed', 'opened'), fieldValue),
        channel: fc.oneof(fc.constantFrom('apns', 'fcm', 'vendor'), fieldValue),
        data: fieldValue,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), frameLike), (v) => {
        const text = JSON.stringify(v) ?? 'null';
        try {
          const f = decodeClientFrame(text);
          assert.ok(KNOWN_OPS.includes(f.op));
        } catch (e) {
          assert.ok(e instanceof TacoError, `non-TacoError ${String(e)} for ${text}`);
          assert.ok(DECODE_CODES.has(e.code), e.code);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('validateClientFrame on arbitrary JS values throws only TacoError', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        try {
          validateClientFrame(v);
        } catch (e) {
          assert.ok(e instanceof TacoError, String(e));
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('frames over 64 KiB → FRAME_TOO_LARGE; exactly 64 KiB is accepted', () => {
    const frameOfBytes = (n: number) => {
      const skeleton = JSON.stringify({ op: 'up', id: 'u1', data: { p: '' } });
      return JSON.stringify({ op: 'up', id: 'u1', data: { p: 'x'.repeat(n - skeleton.length) } });
    };
    const exact = frameOfBytes(MAX_FRAME_BYTES);
    assert.equal(utf8Length(exact), MAX_FRAME_BYTES);
    assert.equal(decodeClientFrame(exact).op, 'up');
    decodeError(() => decodeClientFrame(frameOfBytes(MAX_FRAME_BYTES + 1)), 'FRAME_TOO_LARGE', /65537 bytes/);
    // Multi-byte text: fewer UTF-16 units than the limit but more bytes.
    const wide = JSON.stringify({ op: 'up', id: 'u1', data: { p: 'é'.repeat(40_000) } });
    assert.ok(wide.length < MAX_FRAME_BYTES);
    decodeError(() => decodeClientFrame(wide), 'FRAME_TOO_LARGE');
    // The wire size the adapter measured wins.
    decodeError(() => decodeClientFrame('{"op":"ping"}', MAX_FRAME_BYTES + 1), 'FRAME_TOO_LARGE');
    // Size is checked before parsing: oversized garbage is still FRAME_TOO_LARGE.
    decodeError(() => decodeClientFrame('{'.repeat(MAX_FRAME_BYTES + 1)), 'FRAME_TOO_LARGE');
  });

  test('utf8Length agrees with Buffer.byteLength on well-formed text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        assert.equal(utf8Length(s), Buffer.byteLength(s, 'utf8'));
      }),
      { numRuns: 2000 },
    );
  });

  test('unknown op → UNKNOWN_OP; missing or non-string op → BAD_FRAME', () => {
    decodeError(() => decodeClientFrame('{"op":"subscribe"}'), 'UNKNOWN_OP', /unknown op "subscribe"/);
    decodeError(() => decodeClientFrame('{"op":"push","id":"1","kind":"notification","ts":1}'), 'UNKNOWN_OP');
    decodeError(() => decodeClientFrame(`{"op":"${'z'.repeat(1000)}"}`), 'UNKNOWN_OP');
    decodeError(() => decodeClientFrame('{}'), 'BAD_FRAME', /"op"/);
    decodeError(() => decodeClientFrame('{"op":1}'), 'BAD_FRAME', /"op"/);
    decodeError(() => decodeClientFrame('{"op":null}'), 'BAD_FRAME', /"op"/);
    for (const notObject of ['[]', '[{"op":"ping"}]', 'null', '1', '"ping"', 'true']) {
      decodeError(() => decodeClientFrame(notObject), 'BAD_FRAME', /JSON object/);
    }
    for (const notJson of ['', '{', '{"op":"ping"', "{'op':'ping'}", 'ping', '{"op":"ping"}x']) {
      decodeError(() => decodeClientFrame(notJson), 'BAD_FRAME', /not valid JSON/);
    }
  });

  describe('field validation', () => {
    const hello = { op: 'hello', token: 'a.b.c', platform: 'ios', appState: 'background' };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['hello without token', { ...hello, token: undefined }, /hello: field "token"/],
      ['hello with empty token', { ...hello, token: '' }, /hello: field "token"/],
      ['hello with numeric token', { ...hello, token: 5 }, /hello: field "token"/],
      [
        'hello with a token over 8192 chars',
        { ...hello, token: 'x'.repeat(8193) },
        /"token" is longer than 8192/,
      ],
      [
        'hello with unknown platform',
        { ...hello, platform: 'windows' },
        /"platform" must be one of android, ios, h5/,
      ],
      ['hello without platform', { ...hello, platform: undefined }, /"platform"/],
      ['hello with bad appState', { ...hello, appState: 'asleep' }, /"appState" must be one of/],
      ['hello with negative configVersion', { ...hello, configVersion: -1 }, /configVersion/],
      ['hello with fractional configVersion', { ...hello, configVersion: 1.5 }, /configVersion/],
      ['hello with string configVersion', { ...hello, configVersion: '3' }, /configVersion/],
      ['hello with unsafe configVersion', { ...hello, configVersion: 2 ** 53 }, /configVersion/],
      [
        'hello with lastAck over 32 chars',
        { ...hello, lastAck: '1'.repeat(33) },
        /"lastAck" is longer than 32/,
      ],
      ['hello with empty lastAck', { ...hello, lastAck: '' }, /"lastAck"/],
      ['ack without id', { op: 'ack', status: 'received' }, /ack: field "id"/],
      ['ack with long id', { op: 'ack', id: '1'.repeat(33), status: 'received' }, /"id" is longer than 32/],
      ['ack with numeric id', { op: 'ack', id: 12, status: 'received' }, /ack: field "id"/],
      ['ack with unknown status', { op: 'ack', id: '1', status: 'read' }, /"status" must be one of received/],
      ['state with bad appState', { op: 'state', appState: 1 }, /state: field "appState"/],
      [
        'register with unknown channel',
        { op: 'register', channel: 'sms', token: 't' },
        /"channel" must be one of/,
      ],
      ['register without token', { op: 'register', channel: 'fcm' }, /register: field "token"/],
      [
        'register with long token',
        { op: 'register', channel: 'fcm', token: 't'.repeat(4097) },
        /longer than 4096/,
      ],
      ['up without data', { op: 'up', id: 'u' }, /up: field "data" must be a JSON object/],
      ['up with array data', { op: 'up', id: 'u', data: [] }, /"data" must be a JSON object/],
      ['up with null data', { op: 'up', id: 'u', data: null }, /"data" must be a JSON object/],
      ['up with string data', { op: 'up', id: 'u', data: '{}' }, /"data" must be a JSON object/],
      ['up without id', { op: 'up', data: {} }, /up: field "id"/],
      ['up with long id', { op: 'up', id: 'u'.repeat(129), data: {} }, /longer than 128/],
    ];
    for (const [name, frame, re] of cases) {
      test(name, () => {
        decodeError(() => decodeClientFrame(JSON.stringify(frame)), 'BAD_FRAME', re);
      });
    }

    test('limits are inclusive', () => {
      assert.equal(decodeClientFrame(JSON.stringify({ ...hello, token: 'x'.repeat(8192) })).op, 'hello');
      assert.equal(
        decodeClientFrame(JSON.stringify({ op: 'ack', id: '1'.repeat(32), status: 'opened' })).op,
        'ack',
      );
      const h = decodeClientFrame(JSON.stringify({ ...hello, configVersion: 0, lastAck: '1'.repeat(32) }));
      assert.deepEqual(h, { ...hello, configVersion: 0, lastAck: '1'.repeat(32) });
    });
  });

  test('server frames encode and decode back', () => {
    const frames = [
      { op: 'welcome', session: '1.1', heartbeat: 60, node: 1, ezone: 'sh' },
      { op: 'pong', ts: 123 },
      { op: 'push', id: '42', kind: 'notification', title: 't', data: { a: [1] }, ts: 9 },
      { op: 'error', code: 'TACO_ERR_BAD_FRAME', message: 'm', retryAfterMs: 2000 },
    ] as const;
    for (const f of frames) assert.deepEqual(decodeServerFrame(encodeServerFrame(f)), f);
    decodeError(() => decodeServerFrame('[]'), 'BAD_FRAME');
    decodeError(() => decodeServerFrame('nope'), 'BAD_FRAME');
  });
});

describe('codec fast paths', () => {
  /** What decodeClientFrame gives through JSON.parse and validateClientFrame: a frame or an error. */
  const general = (text: string): unknown => {
    try {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw new TacoError('BAD_FRAME', 'frame is not valid JSON');
      }
      return validateClientFrame(v);
    } catch (e) {
      return { error: (e as TacoError).code, message: (e as TacoError).message };
    }
  };
  const decoded = (text: string): unknown => {
    try {
      return decodeClientFrame(text);
    } catch (e) {
      return { error: (e as TacoError).code, message: (e as TacoError).message };
    }
  };

  test('an ACK decodes to what the general path gives, canonical or not', () => {
    const idArb = fc.oneof(
      fc.stringMatching(/^[0-9]{0,40}$/),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('1"', '1\\"', '١٢٣', ''),
    );
    const statusArb = fc.oneof(
      fc.constantFrom('received', 'displayed', 'opened', 'Received', 'open', ''),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(idArb, statusArb, fc.string({ maxLength: 3 }), fc.nat(3), (id, status, junk, where) => {
        const canonical = `{"op":"ack","id":"${id}","status":"${status}"}`;
        // Raw (unescaped) values, the JSON.stringify form, and damage at the start, the middle or the end.
        const texts = [
          canonical,
          JSON.stringify({ op: 'ack', id, status }),
          [
            junk + canonical,
            canonical.replace('","', `"${junk},"`),
            canonical + junk,
            canonical.slice(0, -1),
          ][where]!,
        ];
        for (const t of texts) assert.deepEqual(decoded(t), general(t), t);
      }),
      { numRuns: 3000 },
    );
  });

  test('a push frame encodes to the text JSON.stringify gives', () => {
    const text = fc.string({ unit: 'binary', maxLength: 30 });
    fc.assert(
      fc.property(
        fc.record(
          {
            id: text,
            kind: fc.constantFrom('notification', 'passthrough'),
            ts: fc.oneof(fc.integer(), fc.double()),
            title: text,
            body: text,
            data: jsonObject,
          },
          { requiredKeys: ['id', 'kind', 'ts'] },
        ),
        (r) => {
          // Built in the order pushFrameOf builds it.
          const f: Record<string, unknown> = { op: 'push', id: r.id, kind: r.kind, ts: r.ts };
          if (r.title !== undefined) f.title = r.title;
          if (r.body !== undefined) f.body = r.body;
          if (r.data !== undefined) f.data = r.data;
          assert.equal(encodeServerFrame(f as unknown as ServerFrame), JSON.stringify(f));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
