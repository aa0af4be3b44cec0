import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderJson, writeJsonReport } from '../../src/sim/report/index.js';
import { COMMIT, sampleReport } from '../fixtures/scenarios/sample-run.js';

describe('JSON report', () => {
  // Two independent builds of the same runs (same seed, same commit).
  const first = sampleReport();
  const second = sampleReport();

  test('the same runs give byte-identical output', () => {
    assert.equal(renderJson(first), renderJson(second));
    const dir = mkdtempSync(join(tmpdir(), 'taco-json-'));
    writeJsonReport(join(dir, '1.json'), first);
    writeJsonReport(join(dir, '2.json'), second);
    assert.deepEqual(readFileSync(join(dir, '1.json')), readFileSync(join(dir, '2.json')));
  });

  test('versioned, names commit and seeds, keys in a fixed order', () => {
    const text = renderJson(first);
    const doc = JSON.parse(text);
    assert.deepEqual(Object.keys(doc), ['version', 'tool', 'commit', 'seeds', 'ok', 'runs']);
    assert.equal(doc.version, 1);
    assert.equal(doc.commit, COMMIT);
    assert.deepEqual(doc.seeds, [42]);
    assert.equal(doc.ok, false, 'the base run of the sample fails its p99');
    const run = doc.runs[1];
    assert.deepEqual(Object.keys(run), [
      'scenario',
      'variant',
      'seed',
      'commit',
      'scale',
      'durationMs',
      'expect',
      'expectedFailingSlo',
      'ok',
      'verdict',
      'failedSlos',
      'slos',
      'faults',
      'eventsCount',
      'events',
      'summary',
      'series',
    ]);
    assert.equal(run.variant, 'no-jitter');
    assert.equal(run.seed, 42);
    assert.equal(run.commit, COMMIT);
    assert.equal(run.scale, 0.01);
    assert.equal(run.ok, true);
    assert.deepEqual(run.failedSlos, ['p(99)(push.latency) < 2s', 'max(reconnect.recovery) < 90s']);
    assert.deepEqual(Object.keys(run.summary), [...Object.keys(run.summary)].sort());
    assert.deepEqual(Object.keys(run.slos[0]), [
      'slo',
      'ok',
      'actual',
      'threshold',
      'unit',
      'window',
      'message',
    ]);
    assert.deepEqual(run.faults[0], { kind: 'network-cut', name: null, atMs: 120_000, forMs: 30_000 });
    assert.ok(text.endsWith('}\n'));
  });

  test('no wall-clock times or host names', () => {
    const text = renderJson(first);
    assert.doesNotMatch(text, /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/, 'no ISO timestamps');
    assert.ok(!text.includes(hostname()), 'no host name');
    assert.ok(!text.includes(tmpdir()), 'no local paths');
    assert.doesNotMatch(text, /1704067200000|17040672/, 'times are relative to the start of the run');
  });

  test('numbers that are not finite become null', () => {
    const report = structuredClone(first);
    const run = report.runs[0]!;
    run.summary['weird'] = Number.NaN;
    run.summary['neg0'] = -0;
    run.slos[0] = { ...run.slos[0]!, actual: Number.POSITIVE_INFINITY };
    const doc = JSON.parse(renderJson(report));
    assert.equal(doc.runs[0].summary.weird, null);
    assert.equal(Object.is(doc.runs[0].summary.neg0, 0), true);
    assert.equal(doc.runs[0].slos[0].actual, null);
  });
});
