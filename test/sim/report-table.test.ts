import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allAsExpected, judgeRun, judgeSlo, renderTable } from '../../src/sim/report/index.js';
import type { SimRunResult } from '../../src/sim/report/types.js';
import type { SloResult } from '../../src/sim/slo/index.js';
import { COMMIT, sampleReport } from '../fixtures/scenarios/sample-run.js';

const slo = (text: string, ok: boolean): SloResult => ({
  slo: text,
  ok,
  actual: 1,
  threshold: 1,
  unit: 'ms',
  window: null,
  message: '',
});

function run(
  expect: 'pass' | 'fail',
  slos: SloResult[],
  expectedFailingSlo: string | null = null,
): SimRunResult {
  return {
    scenario: 's',
    variant: expect === 'pass' ? null : 'v',
    seed: 1,
    commit: COMMIT,
    scale: 1,
    durationMs: 1000,
    expect,
    expectedFailingSlo,
    slos,
    summary: {},
    series: [],
    eventsCount: 0,
    events: {},
    faults: [],
  };
}

describe('terminal table', () => {
  const report = sampleReport();

  test('summarises every run and SLO, with seed and commit', () => {
    const text = renderTable(report);
    assert.match(text, new RegExp(`^taco sim · commit ${COMMIT} · seed 42\n`));
    assert.match(text, /SCENARIO +VARIANT +SEED +EXPECT +RESULT +SLO +ACTUAL +NEEDS/);
    assert.match(
      text,
      /network-cut-dns-failover +\(base\) +42 +pass +NOT OK +failed p\(99\)\(push\.latency\) < 2s +3\.81s +< 2s/,
    );
    assert.match(text, /failed max\(reconnect\.recovery\) < 90s ← must fail/);
    assert.match(text, /held sometimes\(reconnect\.storm\) +1 events +≥ 1 event/);
    assert.match(
      text,
      /3 run\(s\), 1 not as expected:\n {2}network-cut-dns-failover: failed p\(99\)\(push\.latency\) < 2s\n$/,
    );
    assert.doesNotMatch(text, /\u001b\[/, 'no colour unless asked');
  });

  test('colour when asked', () => {
    assert.match(renderTable(report, { color: true }), /\u001b\[3[12]m/);
  });
});

describe('verdicts', () => {
  test('expect pass: every SLO holds', () => {
    assert.equal(judgeRun(run('pass', [slo('a', true), slo('b', true)])).ok, true);
    const v = judgeRun(run('pass', [slo('a', true), slo('b', false)]));
    assert.deepEqual([v.ok, v.failedSlos], [false, ['b']]);
  });

  test('expect fail: some SLO fails, and the named one if any', () => {
    assert.equal(judgeRun(run('fail', [slo('a', true)])).ok, false);
    assert.match(judgeRun(run('fail', [slo('a', true)])).reason, /expected to fail, but every SLO held/);
    assert.equal(judgeRun(run('fail', [slo('count(x) == 0', false)])).ok, true);
    assert.equal(
      judgeRun(run('fail', [slo('count(x) == 0', false)], 'count( x )==0')).ok,
      true,
      'the same SLO written differently',
    );
    const wrong = judgeRun(
      run('fail', [slo('count(x) == 0', false), slo('count(y) == 0', true)], 'count(y) == 0'),
    );
    assert.equal(wrong.ok, false);
    assert.match(wrong.reason, /expected count\(y\) == 0 to fail; failed count\(x\) == 0 instead/);
  });

  test('per-SLO judgement for JUnit', () => {
    const named = run('fail', [slo('count(x) == 0', false), slo('count(y) == 0', true)], 'count(x) == 0');
    assert.deepEqual(judgeSlo(named, 0), { judged: true, ok: true, note: 'failed as expected' });
    assert.deepEqual(judgeSlo(named, 1), { judged: false, ok: true, note: 'held (not judged)' });
    assert.equal(judgeSlo(run('fail', [slo('a', true)]), 0).ok, false);
    assert.equal(allAsExpected([run('pass', [slo('a', true)]), named]), true);
    assert.equal(allAsExpected([run('pass', [slo('a', false)])]), false);
  });
});
