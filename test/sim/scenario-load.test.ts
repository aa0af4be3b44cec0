import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TacoError } from '../../src/core/errors.js';
import { loadScenario, parseScenario, ScenarioError } from '../../src/sim/scenario/index.js';
import { fixture, MINIMAL, withAppended, withLine } from '../fixtures/scenarios/texts.js';

const FILE = 'scenarios/x.yaml';

/** The ScenarioError thrown by parsing `text`. */
function errorOf(text: string): ScenarioError {
  try {
    parseScenario(text, FILE);
  } catch (e) {
    assert.ok(e instanceof ScenarioError, `expected a ScenarioError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the scenario to be rejected');
}

function assertError(text: string, line: number, field: string, message: RegExp | string): ScenarioError {
  const e = errorOf(text);
  const first = e.issues[0]!;
  assert.deepEqual({ line: first.line, field: first.field }, { line, field }, e.message);
  if (typeof message === 'string') assert.equal(first.message, message);
  else assert.match(first.message, message);
  assert.ok(e.message.startsWith(field ? `${FILE}:${line}: ${field}: ` : `${FILE}:${line}: `), e.message);
  return e;
}

describe('loading scenarios', () => {
  test('the SPEC example loads, normalised to ms and camelCase with defaults', () => {
    const s = loadScenario(fixture('network-cut-dns-failover.yaml'));
    assert.equal(s.name, 'network-cut-dns-failover');
    assert.equal(s.seed, 42);
    assert.equal(s.durationMs, 600_000);
    assert.deepEqual(s.topology, { ezones: { sh: { gateways: 8 }, bj: { gateways: 8 } }, shards: 30 });
    assert.equal(s.clients.count, 1_600_000);
    assert.deepEqual(s.clients.platforms, { android: 0.6, ios: 0.35, h5: 0.05 });
    assert.equal(s.clients.heartbeatMs, 60_000);
    assert.deepEqual(s.clients.reconnect, { baseMs: 1_000, maxMs: 60_000, jitter: 'full' });
    assert.equal(s.traffic.pushPerSec, 6000);
    assert.equal(s.traffic.upstreamPerSec, 200);
    assert.equal(s.faults.length, 2);
    assert.deepEqual(
      { ...s.faults[0] },
      { kind: 'network-cut', atMs: 120_000, name: undefined, forMs: 30_000, ezone: 'sh' },
    );
    assert.deepEqual(
      { ...s.faults[1] },
      { kind: 'dns-failover', atMs: 120_000, name: undefined, forMs: undefined, region: 'sh', to: 'bj' },
    );
    assert.equal(s.slo.length, 5);
    assert.deepEqual(s.variants['no-jitter'], {
      set: { 'clients.reconnect.jitter': 'none' },
      expect: 'fail',
      slo: 'max(reconnect.recovery) < 90s',
    });
    assert.equal(s.variants['no-reaper']!.slo, null);
    // Core settings: given ones kept, the rest defaulted, shards from the topology.
    assert.equal(s.config.gateway.reapIdle, true);
    assert.equal(s.config.dispatch.rpcDeadlineMs, 5_000);
    assert.equal(s.config.shards, 30);
    // Engine parameters: defaults filled in.
    assert.equal(s.engines.rpc.maxConcurrentStreams, 100);
    assert.equal(s.engines.rpc.latencyMs, 0.5);
    assert.equal(s.engines.queue.consumerRatePerSec, 2000);
    assert.equal(s.variant, null);
    assert.equal(s.scale, 1);
    assert.equal(s.source.file, fixture('network-cut-dns-failover.yaml'));
  });

  test('every fault kind with its parameters', () => {
    const s = loadScenario(fixture('all-faults.yaml'));
    const byIndex = (i: number) => ({ ...s.faults[i] }) as Record<string, unknown>;
    assert.equal(byIndex(0)['name'], 'first-cut');
    assert.equal(byIndex(2)['slowdown'], 10, 'mq-backlog slowdown defaults to 10');
    assert.equal(byIndex(2)['ezone'], undefined, 'mq-backlog without an ezone hits all');
    assert.equal(byIndex(3)['slowdown'], 3);
    assert.equal(byIndex(4)['fraction'], 0.1);
    assert.equal(byIndex(5)['slowdown'], 5);
    assert.equal(byIndex(6)['latencyMs'], 200);
    assert.equal(byIndex(7)['gateway'], 3);
    assert.equal(byIndex(8)['engine'], 'route-store');
    assert.equal(byIndex(9)['kind'], 'auth-cache-cancel');
    assert.deepEqual(byIndex(10)['shards'], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    assert.deepEqual(byIndex(11)['shards'], [0, 1, 2, 3, 4, 20]);
    assert.equal(byIndex(11)['to'], 'sh');
  });

  test('a minimal scenario defaults faults, slo, variants, config and engines', () => {
    const text = MINIMAL.split('\nfaults:')[0]!;
    const s = parseScenario(text, FILE);
    assert.deepEqual(s.faults, []);
    assert.deepEqual(s.slo, []);
    assert.deepEqual(s.variants, {});
    assert.equal(s.topology.shards, 30);
    assert.deepEqual(s.clients.platforms, { android: 0.6, ios: 0.4, h5: 0 });
    assert.equal(s.clients.reconnect.jitter, 'full');
    assert.equal(s.traffic.upstreamPerSec, 0);
    assert.equal(s.config.gateway.reapIdle, true);
  });

  test('errors are ScenarioError: BAD_INPUT with file, line and field', () => {
    const e = errorOf(withLine(13, '  - {at: soon, kind: network-cut, ezone: sh, for: 30s}'));
    assert.ok(e instanceof TacoError);
    assert.equal(e.code, 'BAD_INPUT');
    assert.equal(e.wireCode, 'TACO_ERR_BAD_INPUT');
    assert.deepEqual(
      { file: e.file, line: e.line, field: e.field },
      { file: FILE, line: 13, field: 'faults[0].at' },
    );
    assert.equal(e.message, `${FILE}:13: faults[0].at: expected a duration like 30s (got "soon")`);
  });

  test('malformed YAML names its line', () => {
    assertError(withLine(2, 'seed: 1\nseed: 2'), 3, '', /unique/i);
    const e = errorOf(withLine(6, '    sh: {gateways: 2'));
    assert.ok(e.line >= 6 && e.line <= 7, e.message);
    assert.match(e.message, /^scenarios\/x\.yaml:[67]: /);
  });

  test('a document that is not a map, or is empty', () => {
    assertError('- a\n- b\n', 1, '', /expected a map of scenario fields/);
    assertError('', 1, '', /expected a map of scenario fields/);
  });

  test('unknown fields are errors at their own line', () => {
    assertError(withAppended('colour: blue\n'), 21, 'colour', 'unknown field');
    assertError(withLine(9, '  count: 1000\n  cuont: 3'), 10, 'clients.cuont', 'unknown field');
    assertError(
      withLine(13, '  - {at: 1m, kind: auth-cache-cancel, ezone: sh}'),
      13,
      'faults[0].ezone',
      'unknown field',
    );
  });

  test('missing and mistyped fields', () => {
    assertError(withLine(11, ''), 1, 'traffic', /^missing/);
    assertError(withLine(9, '  count: many'), 9, 'clients.count', 'expected number, got "many"');
    assertError(withLine(9, '  count: 0'), 9, 'clients.count', 'must be ≥ 1, got 0');
    assertError(withLine(6, '    sh: {gateways: 1.5}'), 6, 'topology.ezones.sh.gateways', /expected int/);
    assertError(withLine(3, 'duration: forever'), 3, 'duration', /^expected a duration like 30s/);
    assertError(withLine(3, 'duration: 0s'), 3, 'duration', 'must be longer than 0');
  });

  test('platform fractions must add up to 1', () => {
    assertError(
      withLine(10, '  platforms: {android: 0.6, ios: 0.3}'),
      10,
      'clients.platforms',
      /add up to 1/,
    );
    // ±0.001 is tolerated
    parseScenario(withLine(10, '  platforms: {android: 0.6, ios: 0.3, h5: 0.1005}'), FILE);
  });

  test('unknown fault kind', () => {
    assertError(
      withLine(13, '  - {at: 1m, kind: meteor-strike}'),
      13,
      'faults[0].kind',
      /^unknown fault kind "meteor-strike" \(expected one of network-cut, /,
    );
    assertError(withLine(13, '  - {at: 1m}'), 13, 'faults[0].kind', /^missing/);
    assert.throws(
      () => loadScenario(fixture('bad-fault-kind.yaml')),
      /bad-fault-kind\.yaml:13: faults\[1\]\.kind: unknown fault kind/,
    );
  });

  test('fault parameters are checked per kind', () => {
    assertError(withLine(13, '  - {at: 1m, kind: network-cut, for: 30s}'), 13, 'faults[0].ezone', /^missing/);
    assertError(
      withLine(13, '  - {at: 1m, kind: network-cut, ezone: sh}'),
      13,
      'faults[0].for',
      /^expected a duration/,
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: grpc-stream-quota, slowdown: 2, latency: 1s, for: 1m}'),
      13,
      'faults[0]',
      'give exactly one of slowdown or latency',
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: grpc-stream-quota, for: 1m}'),
      13,
      'faults[0]',
      /exactly one/,
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: close-wait-leak, fraction: 2}'),
      13,
      'faults[0].fraction',
      /≤ 1/,
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: engine-outage, engine: dns, for: 1m}'),
      13,
      'faults[0].engine',
      /route-store\|message-store\|queue/,
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: shard-switch, shards: "9-3", to: bj}'),
      13,
      'faults[0].shards',
      /expected shards like/,
    );
  });

  test('faults must refer to the topology and happen within the run', () => {
    assertError(
      withLine(13, '  - {at: 1m, kind: network-cut, ezone: gz, for: 30s}'),
      13,
      'faults[0].ezone',
      'unknown ezone "gz" (topology has sh, bj)',
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: gateway-crash, ezone: sh, gateway: 2}'),
      13,
      'faults[0].gateway',
      'ezone sh has gateways 0..1, not 2',
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: shard-switch, shards: "25-31", to: bj}'),
      13,
      'faults[0].shards',
      /shard 30 is out of range/,
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: dns-failover, region: sh, to: gz}'),
      13,
      'faults[0].to',
      /unknown ezone "gz"/,
    );
    assertError(
      withLine(13, '  - {at: 5m, kind: network-cut, ezone: sh, for: 30s}'),
      13,
      'faults[0].at',
      '5m is not before the end of the run (5m)',
    );
    assertError(
      withLine(13, '  - {at: 1m, kind: auth-cache-cancel, name: network-cut}'),
      13,
      'faults[0].name',
      /is a fault kind/,
    );
  });

  test('SLOs are parsed at load time, errors naming line and column', () => {
    assertError(withLine(15, '  - "count(push.lost) = 0"'), 15, 'slo[0]', /^column 18: expected an operator/);
    assertError(
      withLine(16, '  - "p(99)(push.latency) < 2s within 1m after dns-failover"'),
      16,
      'slo[1]',
      'no dns-failover fault in this scenario',
    );
    assertError(
      withLine(16, '  - "p(99)(push.latency) < 2s within 1m after meteor"'),
      16,
      'slo[1]',
      /^unknown fault "meteor"/,
    );
  });

  test("a variant's slo must be one of the list, and only with expect: fail", () => {
    assertError(
      withAppended('    slo: "count(push.lost) > 0"\n'),
      21,
      'variants.no-jitter.slo',
      /is not one of this scenario's slo list/,
    );
    // the same SLO written differently is the same SLO
    parseScenario(withAppended('    slo: "count( push.lost )==0"\n'), FILE);
    assertError(
      withLine(20, '    expect: pass\n    slo: "count(push.lost) == 0"'),
      21,
      'variants.no-jitter.slo',
      /needs expect: fail/,
    );
  });

  test('core settings under config: are validated by CoreConfigSchema', () => {
    assertError(
      withAppended('config:\n  gateway: {reapIdle: "yes"}\n'),
      22,
      'config.gateway.reapIdle',
      'expected boolean, got "yes"',
    );
    assertError(
      withAppended('config:\n  gateway: {reapIdel: false}\n'),
      22,
      'config.gateway.reapIdel',
      'unknown field',
    );
    assertError(withAppended('config:\n  shards: 12\n'), 22, 'config.shards', /differs from topology.shards/);
    const s = parseScenario(
      withAppended('config:\n  gateway: {reapIdle: false}\n  dispatch: {rpcDeadlineMs: 0}\n'),
      FILE,
    );
    assert.equal(s.config.gateway.reapIdle, false);
    assert.equal(s.config.dispatch.rpcDeadlineMs, 0);
  });

  test('engine parameters under engines:', () => {
    const s = parseScenario(
      withAppended('engines:\n  routeStore: {latency: 3ms, outage: hang}\n  queue: {consumerRate: 50}\n'),
      FILE,
    );
    assert.deepEqual(s.engines.routeStore, { latencyMs: 3, outage: 'hang' });
    assert.equal(s.engines.queue.consumerRatePerSec, 50);
    assert.equal(s.engines.queue.diskModeThreshold, 100_000);
    assertError(
      withAppended('engines:\n  rpc: {latency: fast}\n'),
      22,
      'engines.rpc.latency',
      /^expected a duration like 30s/,
    );
    assertError(withAppended('engines:\n  disk: {}\n'), 22, 'engines.disk', 'unknown field');
  });

  test('several problems are all reported, in line order', () => {
    const e = errorOf(withLine(3, 'duration: forever', withAppended('colour: blue\n')));
    assert.equal(e.issues.length, 2);
    assert.deepEqual(
      e.issues.map((i) => i.line),
      [3, 21],
    );
    assert.equal(e.message.split('\n').length, 2);
  });

  test('a missing file is BAD_INPUT naming it', () => {
    assert.throws(
      () => loadScenario('/nonexistent/x.yaml'),
      (e: unknown) =>
        e instanceof TacoError &&
        e.code === 'BAD_INPUT' &&
        e.message === '/nonexistent/x.yaml: cannot read scenario: no such file',
    );
  });
});
