import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MetricsRecorder } from '../../src/sim/metrics/index.js';
import { gitCommit, logEvents, NdjsonWriter, writeRunHeader } from '../../src/sim/report/index.js';

describe('NDJSON event log', () => {
  test('a header naming seed and commit, then one event per line, streamed', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'taco-events-')), 'events.ndjson');
    const w = new NdjsonWriter(file, 256);
    writeRunHeader(w, { scenario: 's', variant: null, seed: 42, commit: 'abc', scale: 0.01 });
    const r = new MetricsRecorder({ startMs: 1_000 });
    logEvents(r, w);
    for (let i = 0; i < 50; i++) {
      r.setTime(1_000 + i * 100);
      r.event('tick', { i, text: 'line\nbreak "quoted"' });
    }
    // past the 256-byte buffer, lines are already on disk before close()
    assert.ok(readFileSync(file, 'utf8').split('\n').length > 5);
    w.close();
    w.close(); // idempotent
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.equal(lines.length, 51);
    assert.equal(w.lines, 51);
    const docs = lines.map((l) => JSON.parse(l));
    assert.deepEqual(docs[0], {
      type: 'run',
      version: 1,
      scenario: 's',
      variant: null,
      seed: 42,
      commit: 'abc',
      scale: 0.01,
    });
    assert.deepEqual(docs[1], {
      type: 'event',
      tMs: 0,
      name: 'tick',
      fields: { i: 0, text: 'line\nbreak "quoted"' },
    });
    assert.deepEqual(docs[50], {
      type: 'event',
      tMs: 4_900,
      name: 'tick',
      fields: { i: 49, text: 'line\nbreak "quoted"' },
    });
    assert.throws(() => w.write({}), /closed/);
  });
});

describe('gitCommit', () => {
  test('TACO_GIT_COMMIT overrides; otherwise a hash or "unknown", the same every call', () => {
    const saved = process.env['TACO_GIT_COMMIT'];
    try {
      process.env['TACO_GIT_COMMIT'] = 'feedbeef';
      assert.equal(gitCommit(), 'feedbeef');
      delete process.env['TACO_GIT_COMMIT'];
      const c = gitCommit();
      assert.match(c, /^([0-9a-f]{40}|[0-9a-f]{64}|unknown)$/);
      assert.equal(gitCommit(), c);
    } finally {
      if (saved === undefined) delete process.env['TACO_GIT_COMMIT'];
      else process.env['TACO_GIT_COMMIT'] = saved;
    }
  });
});
