import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultRegistry, MetricsRecorder } from '../../src/sim/metrics/index.js';
import { parseScenario, ScenarioError } from '../../src/sim/scenario/index.js';
import { checkScenarioSlos, evaluateSlo, type FaultTime, SloError } from '../../src/sim/slo/index.js';
import { MINIMAL, withLine } from '../fixtures/scenarios/texts.js';

const FAULTS: FaultTime[] = [
  { kind: 'network-cut', atMs: 60_000, name: 'sh-cut' },
  { kind: 'network-cut', atMs: 200_000 },
  { kind: 'gateway-crash', atMs: 240_000 },
];

/**
 * A 300 s run: latency 10 ms, then 3 s during [60 s, 120 s), then 20 ms; 10
 * deliveries per second; 100 sessions in sh except [60 s, 90 s); cpu at 50%;
 * one reconnect storm at 65 s; push.lost never incremented.
 */
function run(): MetricsRecorder {
  const registry = defaultRegistry().registerAll([
    { name: 'sessions.online', kind: 'gauge', unit: 'sessions', description: '', combine: 'sum' },
    { name: 'cpu', kind: 'gauge', unit: 'ratio', description: '' },
  ]);
  const r = new MetricsRecorder({ registry, bucketMs: 10_000 });
  for (let s = 0; s < 300; s++) {
    r.setTime(s * 1000);
    r.count('push.delivered', 10);
    r.observe('push.latency', s < 60 ? 10 : s < 120 ? 3000 : 20, { ezone: 'sh' });
    if (s === 0 || s === 90) r.gauge('sessions.online', 100, { ezone: 'sh' });
    if (s === 60) r.gauge('sessions.online', 0, { ezone: 'sh' });
    if (s === 0) r.gauge('cpu', 0.5);
    if (s === 65) r.event('reconnect.storm', { attempts: 900 });
  }
  r.setTime(300_000);
  return r;
}

const rec = run();
const ev = (slo: string) => evaluateSlo(slo, rec, FAULTS);
const holds = (slo: string) => ev(slo).ok;

describe('evaluating SLOs', () => {
  test('every operator', () => {
    const table: [string, boolean][] = [
      ['<', false],
      ['<=', true],
      ['>', false],
      ['>=', true],
      ['==', true],
      ['!=', false],
    ];
    for (const [op, want] of table) assert.equal(holds(`count(push.delivered) ${op} 3000`), want, op);
    assert.equal(holds('count(push.delivered) < 3001'), true);
    assert.equal(holds('count(push.delivered) > 2999'), true);
    assert.equal(holds('count(push.delivered) != 1'), true);
  });

  test('count and rate of counters; a counter never incremented counts 0', () => {
    assert.equal(ev('count(push.delivered) == 3000').actual, 3000);
    assert.equal(ev('rate(push.delivered) == 10').actual, 10);
    const lost = ev('count(push.lost) == 0');
    assert.deepEqual([lost.ok, lost.actual], [true, 0]);
    assert.equal(ev('rate(push.lost) == 0').ok, true);
  });

  test('histogram aggregations: avg, min, max exact; med and p(N) from HDR', () => {
    assert.equal(ev('min(push.latency) == 10ms').actual, 10);
    assert.equal(ev('max(push.latency) == 3s').actual, 3000);
    assert.ok(Math.abs(ev('avg(push.latency) > 0').actual! - (60 * 10 + 60 * 3000 + 180 * 20) / 300) < 1e-9);
    const med = ev('med(push.latency) < 25ms');
    assert.ok(med.ok && Math.abs(med.actual! - 20) <= 0.02, String(med.actual));
    assert.equal(holds('p(50)(push.latency) < 25ms'), true);
    assert.equal(holds('p(79)(push.latency) < 25ms'), true, '80% of values are ≤ 20 ms');
    assert.equal(holds('p(81)(push.latency) < 25ms'), false);
    assert.equal(ev('p(99)(push.latency) < 2s').actual, 3000);
    assert.equal(ev('count(push.latency) == 300').ok, true);
    assert.equal(ev('rate(push.latency) == 1').ok, true);
  });

  test('gauge aggregations: min, max, time-weighted avg; % on ratios', () => {
    assert.equal(ev('min(sessions.online) == 0').ok, true);
    assert.equal(ev('max(sessions.online) == 100').ok, true);
    assert.equal(ev('avg(sessions.online) > 0').actual, 90, '0 for 30 of 300 seconds');
    assert.equal(ev('avg(sessions.online{ezone:sh}) == 90').ok, true);
    assert.equal(ev('avg(cpu) <= 50%').ok, true);
    assert.equal(ev('avg(cpu) < 50%').ok, false);
  });

  test('windows anchored to faults, by name or first of a kind', () => {
    const whole = ev('p(99)(push.latency) < 1s');
    assert.equal(whole.ok, false);
    assert.equal(whole.window, null);
    const cut = ev('p(99)(push.latency) < 1s within 1m after network-cut');
    assert.deepEqual([cut.ok, cut.actual, cut.window], [false, 3000, { fromMs: 60_000, toMs: 120_000 }]);
    assert.equal(holds('p(99)(push.latency) < 1s within 1m after sh-cut'), false);
    assert.equal(holds('max(push.latency) < 100ms within 30s after gateway-crash'), true);
    assert.equal(holds('min(push.latency) == 3s within 1m after sh-cut'), true);
    assert.equal(ev('rate(push.delivered) == 10 within 1m after network-cut').ok, true);
    assert.equal(ev('count(push.delivered) == 600 within 1m after network-cut').ok, true);
    assert.equal(ev('min(sessions.online) == 0 within 10s after sh-cut').ok, true);
    // a window past the end is clipped: 240 s + 10 min covers [240 s, 300 s)
    assert.deepEqual(ev('count(push.delivered) == 600 within 10m after gateway-crash').window, {
      fromMs: 240_000,
      toMs: 300_000,
    });
    assert.equal(holds('count(push.delivered) == 600 within 10m after gateway-crash'), true);
  });

  test('sometimes(EVENT), over the run or a window', () => {
    const s = ev('sometimes(reconnect.storm)');
    assert.deepEqual([s.ok, s.actual, s.threshold, s.unit], [true, 1, null, 'events']);
    assert.equal(holds('sometimes(reconnect.storm) within 1m after sh-cut'), true);
    const later = ev('sometimes(reconnect.storm) within 30s after gateway-crash');
    assert.equal(later.ok, false);
    assert.match(later.message, /never occurred in 4m\.\.270s/);
    assert.equal(holds('sometimes(push.delivered)'), true, 'counters too');
    assert.equal(holds('sometimes(push.lost)'), false);
  });

  test('no data fails, never a silent pass', () => {
    const r = ev('p(99)(push.latency{ezone:gz}) < 1s');
    assert.deepEqual([r.ok, r.actual], [false, null]);
    assert.match(r.message, /^no data, needs < 1s$/);
    assert.equal(holds('max(gateway.memory) < 1000'), false);
  });

  test('results carry the SLO, actual, threshold (ms or fraction), unit and a message', () => {
    const r = ev('p(99)(push.latency) < 5s within 3m after network-cut');
    assert.deepEqual(
      { slo: r.slo, ok: r.ok, actual: r.actual, threshold: r.threshold, unit: r.unit },
      {
        slo: 'p(99)(push.latency) < 5s within 3m after network-cut',
        ok: true,
        actual: 3000,
        threshold: 5000,
        unit: 'ms',
      },
    );
    assert.equal(r.message, '3s in 1m..4m, needs < 5s');
    assert.equal(ev('rate(push.delivered) > 1').unit, '/s');
    assert.equal(ev('avg(cpu) < 80%').threshold, 0.8);
  });

  test('input errors: unknown metric, unknown or absent fault, aggregation or unit that does not fit', () => {
    const bad: [string, RegExp][] = [
      ['p(99)(push.latnecy) < 2s', /unknown metric "push\.latnecy" \(did you mean "push\.latency"\?\)/],
      ['sometimes(reconnect.strom)', /unknown event "reconnect\.strom"/],
      ['count(push.lost) == 0 within 1m after meteor', /unknown fault "meteor"/],
      ['count(push.lost) == 0 within 1m after dns-failover', /no dns-failover fault in this scenario/],
      ['p(99)(push.lost) < 1', /p\(99\)\(\) does not apply to push\.lost, a counter \(use count, rate\)/],
      ['count(sessions.online) > 1', /count\(\) does not apply to sessions\.online, a gauge/],
      ['count(push.lost) < 5s', /is a duration, but count\(push\.lost\) is not/],
      ['max(sessions.online) < 5s', /is a duration/],
      ['max(push.latency) < 5%', /% needs a ratio metric/],
      ['sometimes(sessions.online)', /needs an event or a counter/],
      ['count(reconnect.storm{ezone:sh}) > 0', /events have no tags/],
      ['count(push.lost) = 0', /column 18/],
    ];
    for (const [slo, message] of bad) {
      assert.throws(
        () => ev(slo),
        (e: unknown) => e instanceof SloError && e.code === 'BAD_INPUT' && message.test(e.message),
        slo,
      );
    }
  });

  test("a scenario's SLOs are checked against the registry before the run, naming their lines", () => {
    const s = parseScenario(withLine(15, '  - "count(push.lots) == 0"'), 'scenarios/m.yaml');
    assert.throws(
      () => checkScenarioSlos(s, defaultRegistry()),
      (e: unknown) =>
        e instanceof ScenarioError &&
        e.message === 'scenarios/m.yaml:15: slo[0]: unknown metric "push.lots" (did you mean "push.lost"?)',
    );
    checkScenarioSlos(parseScenario(MINIMAL, 'scenarios/m.yaml'), defaultRegistry());
  });
});
