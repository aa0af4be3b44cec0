import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyVariant,
  loadScenario,
  parseScenario,
  type Scenario,
  ScenarioError,
  scale,
} from '../../src/sim/scenario/index.js';
import { fixture, MINIMAL, withLine } from '../fixtures/scenarios/texts.js';

const FILE = 'scenarios/v.yaml';

/** MINIMAL whose variant no-jitter (line 18) sets `set` (a YAML flow map, on line 19). */
function withSet(set: string, base = MINIMAL): string {
  return withLine(19, `    set: ${set}`, base);
}

function variantOf(set: string, base = MINIMAL): Scenario {
  return applyVariant(parseScenario(withSet(set, base), FILE), 'no-jitter');
}

function rejects(text: string, line: number, field: string, message: RegExp): void {
  assert.throws(
    () => parseScenario(text, FILE),
    (e: unknown) => {
      assert.ok(e instanceof ScenarioError, String(e));
      assert.equal(e.code, 'BAD_INPUT');
      assert.equal(e.line, line, e.message);
      assert.equal(e.field, field, e.message);
      assert.match(e.message, message);
      return true;
    },
  );
}

describe('variants', () => {
  test('apply their settings to the base and re-validate', () => {
    const base = loadScenario(fixture('network-cut-dns-failover.yaml'));
    const v = applyVariant(base, 'no-jitter');
    assert.equal(v.variant, 'no-jitter');
    assert.equal(v.clients.reconnect.jitter, 'none');
    assert.equal(base.clients.reconnect.jitter, 'full', 'the base is not changed');
    assert.deepEqual({ ...v, clients: base.clients, variant: null }, base, 'nothing else changes');
  });

  test('core settings by path, several settings, sections left to their defaults', () => {
    const base = loadScenario(fixture('network-cut-dns-failover.yaml'));
    assert.equal(applyVariant(base, 'no-reaper').config.gateway.reapIdle, false);
    const few = applyVariant(base, 'few-streams');
    assert.equal(few.engines.rpc.maxConcurrentStreams, 4);
    assert.equal(few.traffic.pushPerSec, 12_000);
    // MINIMAL has no config: nor engines: sections
    assert.equal(variantOf('{config.dispatch.rpcDeadlineMs: 0}').config.dispatch.rpcDeadlineMs, 0);
    assert.equal(variantOf('{engines.queue.diskModeSlowdown: 8}').engines.queue.diskModeSlowdown, 8);
  });

  test('values are file values: durations as text, file key names', () => {
    const v = variantOf('{clients.heartbeat: 30s, traffic.push_per_s: 99, "faults[0].for": 1m}');
    assert.equal(v.clients.heartbeatMs, 30_000);
    assert.equal(v.traffic.pushPerSec, 99);
    assert.equal((v.faults[0] as { forMs: number }).forMs, 60_000);
    assert.equal((variantOf('{faults.0.for: 2m}').faults[0] as { forMs: number }).forMs, 120_000);
    assert.deepEqual(variantOf('{clients.reconnect: {base: 2s}}').clients.reconnect, {
      baseMs: 2_000,
      maxMs: 60_000,
      jitter: 'full',
    });
    assert.equal(variantOf('{topology.ezones.sh.gateways: 5}').topology.ezones['sh']!.gateways, 5);
  });

  test('an unknown path is an input error at load time, naming file, line and path', () => {
    assert.throws(
      () => loadScenario(fixture('bad-variant-path.yaml')),
      /bad-variant-path\.yaml:15: variants\.typo\.set\.clients\.reconect\.jitter: unknown setting path/,
    );
    rejects(
      withSet('{clients.reconect.jitter: none}'),
      19,
      'variants.no-jitter.set.clients.reconect.jitter',
      /unknown setting path$/,
    );
    rejects(
      withSet('{config.gateway.reapIdel: false}'),
      19,
      'variants.no-jitter.set.config.gateway.reapIdel',
      /unknown setting path/,
    );
    rejects(
      withSet('{topology.ezones.gz.gateways: 3}'),
      19,
      'variants.no-jitter.set.topology.ezones.gz.gateways',
      /unknown setting path/,
    );
    rejects(
      withSet('{"faults[3].for": 1m}'),
      19,
      'variants.no-jitter.set.faults[3].for',
      /unknown setting path/,
    );
    rejects(
      withSet('{clients.count.value: 3}'),
      19,
      'variants.no-jitter.set.clients.count.value',
      /unknown setting path/,
    );
    rejects(
      withSet('{name: other}'),
      19,
      'variants.no-jitter.set.name',
      /name cannot be changed by a variant/,
    );
    rejects(
      withSet('{"clients..count": 3}'),
      19,
      'variants.no-jitter.set.clients..count',
      /malformed setting path/,
    );
  });

  test('a bad value is an input error naming the path and what was expected', () => {
    rejects(
      withSet('{clients.reconnect.jitter: sometimes}'),
      19,
      'variants.no-jitter.set.clients.reconnect.jitter',
      /^scenarios\/v\.yaml:19: variants\.no-jitter\.set\.clients\.reconnect\.jitter: expected one of full\|none, got "sometimes"$/,
    );
    rejects(
      withSet('{config.gateway.reapIdle: maybe}'),
      19,
      'variants.no-jitter.set.config.gateway.reapIdle',
      /expected boolean/,
    );
    rejects(
      withSet('{clients.heartbeat: soon}'),
      19,
      'variants.no-jitter.set.clients.heartbeat',
      /expected a duration like 30s/,
    );
    rejects(
      withSet('{clients.platforms.ios: 0.9}'),
      19,
      'variants.no-jitter.set.clients.platforms.ios',
      /clients\.platforms: platform fractions/,
    );
  });

  test('a consequence elsewhere in the document is reported at the variant', () => {
    const text = withSet(
      '{topology.ezones.sh.gateways: 1}',
      withLine(
        13,
        '  - {at: 1m, kind: gateway-crash, ezone: sh, gateway: 1}',
        MINIMAL.replace(' within 1m after network-cut', ''),
      ),
    );
    rejects(
      text,
      18,
      'variants.no-jitter',
      /faults\[0\]\.gateway: ezone sh has gateways 0\.\.0, not 1 \(line 13, with this variant's settings\)/,
    );
  });

  test('an unknown variant name', () => {
    const s = parseScenario(MINIMAL, FILE);
    assert.throws(
      () => applyVariant(s, 'nope'),
      (e: unknown) =>
        e instanceof ScenarioError &&
        e.line === 17 &&
        /variants: no variant "nope" \(have no-jitter\)/.test(e.message),
    );
  });

  test('a scaled scenario stays scaled through applyVariant', () => {
    const base = scale(loadScenario(fixture('network-cut-dns-failover.yaml')), 0.01);
    const v = applyVariant(base, 'no-jitter');
    assert.equal(v.scale, 0.01);
    assert.equal(v.clients.count, 16_000);
    assert.equal(v.clients.reconnect.jitter, 'none');
  });
});
