import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { WriteBatch } from '../../src/gateway/ws-gateway.js';

describe('WriteBatch', () => {
  test('holds a turn’s writes and lets them out together at its end', async () => {
    const batch = new WriteBatch();
    const a = new PassThrough();
    const b = new PassThrough();
    const g = batch.generation;
    batch.hold(a);
    batch.hold(b);
    a.write('1');
    a.write('2');
    b.write('x');
    assert.equal(a.writableCorked, 1);
    assert.equal(a.read(), null, 'nothing leaves during the turn');
    await tick();
    assert.equal(a.writableCorked, 0);
    assert.equal(b.writableCorked, 0);
    assert.equal(String(a.read()), '12');
    assert.equal(String(b.read()), 'x');
    assert.equal(batch.generation, g + 1, 'the next turn corks again');
  });

  test('a destroyed socket is neither corked nor uncorked; flush lets everything out at once', () => {
    const batch = new WriteBatch();
    const dead = new PassThrough();
    dead.destroy();
    batch.hold(dead);
    const s = new PassThrough();
    batch.hold(s);
    s.write('y');
    batch.flush();
    assert.equal(s.writableCorked, 0);
    assert.equal(String(s.read()), 'y');
  });
});
