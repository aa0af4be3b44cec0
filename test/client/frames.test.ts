import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Emitter } from '../../src/client/emitter.js';
import { parseServerFrame } from '../../src/client/frames.js';

describe('parseServerFrame', () => {
  test('accepts the frames of SPEC §3 and keeps only known fields', () => {
    assert.deepEqual(
      parseServerFrame('{"op":"welcome","session":"1.2","heartbeat":60,"node":1,"ezone":"sh","x":1}'),
      {
        op: 'welcome',
        session: '1.2',
        heartbeat: 60,
        node: 1,
        ezone: 'sh',
      },
    );
    assert.deepEqual(parseServerFrame('{"op":"push","id":"9","kind":"notification","title":"t","ts":5}'), {
      op: 'push',
      id: '9',
      kind: 'notification',
      title: 't',
      ts: 5,
    });
    assert.deepEqual(parseServerFrame('{"op":"error","code":"TACO_ERR_X","message":"m","retryAfterMs":5}'), {
      op: 'error',
      code: 'TACO_ERR_X',
      message: 'm',
      retryAfterMs: 5,
    });
  });

  test('unknown ops are null (newer server), malformed frames throw BAD_FRAME', () => {
    assert.equal(parseServerFrame('{"op":"presence","who":1}'), null);
    for (const bad of [
      'nope',
      '[]',
      '{"op":1}',
      '{"op":"welcome","session":"s","heartbeat":0,"node":1,"ezone":"sh"}',
      '{"op":"push","id":"","kind":"notification","ts":1}',
      '{"op":"push","id":"123456789012345678901234567890123","kind":"notification","ts":1}',
      '{"op":"push","id":"1","kind":"banner","ts":1}',
      '{"op":"push","id":"1","kind":"passthrough","ts":1,"data":[1]}',
      '{"op":"config","version":-1,"data":{}}',
      '{"op":"config","version":1}',
      '{"op":"up.ack"}',
      '{"op":"error","code":"X","retryAfterMs":-1}',
    ]) {
      assert.throws(() => parseServerFrame(bad), { code: 'BAD_FRAME' }, bad);
    }
  });
});

describe('Emitter', () => {
  class E extends Emitter<{ a: [number]; b: [] }> {
    fire(n: number) {
      this.emit('a', n);
      this.emit('b');
    }
  }

  test('on/off/once, and removal during emit is safe', () => {
    const e = new E();
    const got: string[] = [];
    const offA = e.on('a', (n) => got.push(`a${n}`));
    e.once('b', () => got.push('b-once'));
    e.on('a', () => offA());
    e.fire(1);
    e.fire(2);
    assert.deepEqual(got, ['a1', 'b-once']);
    assert.equal(e.listenerCount('a'), 1);
    assert.equal(e.listenerCount('b'), 0);
  });
});
