import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TacoError } from '../../src/core/errors.js';
import { loadScenario, parseScenario, scale } from '../../src/sim/scenario/index.js';
import { fixture, MINIMAL, withLine } from '../fixtures/scenarios/texts.js';

describe('scale', () => {
  const base = loadScenario(fixture('network-cut-dns-failover.yaml'));

  test('shrinks clients, gateways (at least 1) and traffic', () => {
    const s = scale(base, 0.01);
    assert.equal(s.scale, 0.01);
    assert.equal(s.clients.count, 16_000);
    assert.deepEqual(s.topology.ezones, { sh: { gateways: 1 }, bj: { gateways: 1 } });
    assert.equal(s.traffic.pushPerSec, 60);
    assert.equal(s.traffic.upstreamPerSec, 2);
    assert.equal(s.traffic.ttlMs, base.traffic.ttlMs, 'non-capacity fields are kept');
    assert.equal(s.durationMs, base.durationMs);
    assert.deepEqual(s.faults, base.faults);
    assert.deepEqual(s.slo, base.slo);
  });

  test('shared capacities scale by the factor', () => {
    const s = scale(base, 0.01);
    assert.equal(s.engines.queue.diskModeThreshold, 1_000);
    assert.equal(s.config.dispatch.consumers.backlogPerConsumer, 2);
  });

  test('per-gateway capacities follow the gateways actually left after rounding', () => {
    // 16 gateways × 0.01 = 0.16 ideal, 2 after rounding up: each gateway carries 8% of a full one's load.
    const s = scale(base, 0.01);
    const c = 0.16 / 2;
    assert.ok(Math.abs(s.engines.gateway.acceptPerSec - 4500 * c) < 1e-9);
    assert.ok(Math.abs(s.engines.queue.consumerRatePerSec - 2000 * c) < 1e-9, 'consumers live in each node');
    // Per-operation costs (set or from the calibration) are multiplied by costScale when the world is built.
    assert.ok(Math.abs(s.engines.gateway.costScale - 1 / c) < 1e-9);
    assert.equal(
      s.engines.gateway.signInCpuUs,
      undefined,
      'unset costs stay unset: the calibration fills them',
    );
    assert.ok(Math.abs(s.config.gateway.signInsPerSec - 3000 * c) < 1e-9);
    assert.equal(s.engines.rpc.maxConcurrentStreams, 8);
    // exact rounding: nothing per gateway changes
    const half = scale(base, 0.5);
    assert.deepEqual(half.topology.ezones, { sh: { gateways: 4 }, bj: { gateways: 4 } });
    assert.equal(half.engines.gateway.acceptPerSec, 4500);
    assert.equal(half.engines.gateway.costScale, 1);
    assert.equal(half.engines.rpc.maxConcurrentStreams, 100);
  });

  test('an ezone whose gateway crashes keeps two gateways; a crashed gateway that no longer exists becomes the last one', () => {
    const text = withLine(
      13,
      '  - {at: 1m, kind: gateway-crash, ezone: sh, gateway: 3}',
      MINIMAL.replace(' within 1m after network-cut', '').replace('sh: {gateways: 2}', 'sh: {gateways: 4}'),
    );
    const s = scale(parseScenario(text, 'x.yaml'), 0.1);
    // Scaled to one, the crash would take all of sh away: a different incident.
    assert.deepEqual(s.topology.ezones, { sh: { gateways: 2 }, bj: { gateways: 1 } });
    assert.equal((s.faults[0] as { gateway: number }).gateway, 1);
  });

  test('factor 1 is the identity; scales compose; bad factors are BAD_INPUT', () => {
    assert.equal(scale(base, 1), base);
    assert.equal(scale(scale(base, 0.1), 0.1).scale, 0.1 * 0.1);
    for (const f of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => scale(base, f),
        (e: unknown) => e instanceof TacoError && e.code === 'BAD_INPUT',
      );
    }
  });
});
