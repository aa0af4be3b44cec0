/** The pure parts of the load tools. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressOfClient, planProcesses, sourceAddress } from '../../src/load/addresses.js';
import { fitLink } from '../../src/load/agreement.js';
import { applyMeasurement } from '../../src/load/calibrate.js';
import { addWire, newHistogram, recordMs, summarize, toWire } from '../../src/load/hist.js';
import { pushBody } from '../../src/load/push-driver.js';
import { parsePrometheus } from '../../src/load/server-metrics.js';
import { autoHttpFront, resolveServeConfig } from '../../src/server/config-file.js';
import { checkWorkers } from '../../src/server/workers.js';
import { CALIBRATION_FILE } from '../../src/sim/calibration.js';

describe('load planning', () => {
  test('processes hold at most perProcess sockets, evenly', () => {
    assert.deepEqual(
      planProcesses(100_000, 19_000).map((s) => s.to - s.from),
      [16_667, 16_667, 16_667, 16_667, 16_666, 16_666],
    );
    const plan = planProcesses(100_000, 19_000);
    assert.equal(plan.length, 6);
    assert.equal(plan[0]!.from, 0);
    assert.equal(plan.at(-1)!.to, 100_000);
    for (const s of plan) assert.ok(s.to - s.from <= 19_000);
    assert.equal(planProcesses(200, 15_000).length, 1);
    assert.throws(() => planProcesses(0, 100), /clients/);
    assert.throws(() => planProcesses(10, 20_000), /per-process/);
  });

  test('source addresses: ~perAddress clients each, 127.0.0.2 upwards, never .0, .1 of the first octet or .255', () => {
    assert.equal(sourceAddress(0), '127.0.0.2');
    assert.equal(sourceAddress(252), '127.0.0.254');
    assert.equal(sourceAddress(253), '127.0.1.1');
    assert.equal(addressOfClient(999, 1000), '127.0.0.2');
    assert.equal(addressOfClient(1000, 1000), '127.0.0.3');
    const seen = new Set<string>();
    for (let k = 0; k < 2000; k++) {
      const a = sourceAddress(k);
      assert.doesNotMatch(a, /\.(0|255)$/);
      assert.ok(!seen.has(a));
      seen.add(a);
    }
  });
});

describe('load measurements', () => {
  test('histograms merge exactly across processes', () => {
    const a = newHistogram();
    const b = newHistogram();
    for (let i = 1; i <= 100; i++) recordMs(i <= 50 ? a : b, i);
    const merged = newHistogram();
    addWire(merged, toWire(a));
    addWire(merged, toWire(b));
    const s = summarize(merged);
    assert.equal(s.count, 100);
    assert.ok(Math.abs(s.p50! - 50) < 0.1);
    assert.ok(Math.abs(s.p99! - 99) < 0.1);
  });

  test('push bodies carry the intended send time and whether they count', () => {
    const b = pushBody(
      { devicePrefix: 'd-', clients: 10, kind: 'passthrough', ttlSec: 60, measured: true },
      123.5,
      true,
    ) as {
      to: { devices: string[] };
      data: { t: number; m: number };
    };
    assert.match(b.to.devices[0]!, /^d-\d$/);
    assert.deepEqual(b.data, { t: 123.5, m: 1 });
  });

  test('Prometheus text: values summed by name, the node told by its label', () => {
    const s = parsePrometheus(
      [
        '# HELP x',
        'process_cpu_seconds_total 1.5',
        'taco_push_delivered_total{node="3",ezone="local"} 7',
        'taco_gateway_connections{node="3",ezone="local"} 12',
        'process_resident_memory_bytes 1000',
      ].join('\n'),
    );
    assert.equal(s.node, '3');
    assert.equal(s.values.get('taco_push_delivered_total'), 7);
    assert.equal(s.values.get('process_cpu_seconds_total'), 1.5);
  });

  test('the simulator link is fitted to the measured round trips', () => {
    const k = 2 - Math.sqrt(0.02);
    const l = fitLink(2, 3);
    assert.ok(Math.abs(l.rttMs + l.jitterMs - 2) < 1e-9);
    assert.ok(Math.abs(l.rttMs + k * l.jitterMs - 3) < 1e-9);
    const heavy = fitLink(0.5, 20);
    assert.equal(heavy.rttMs, 0);
    assert.ok(Math.abs(k * heavy.jitterMs - 20) < 1e-9);
  });

  test('a measurement replaces the gateway costs only', () => {
    const m = {
      at: '2026-01-01T00:00:00.000Z',
      host: 'h',
      serverNodes: 1,
      clients: 10,
      clientProcesses: 1,
      idleCpuUsPerSec: 0,
      sessionBytes: 6000,
      firstSignInCpuUs: 400,
      signInCpuUs: 300,
      frameCpuUs: 40,
      pushCpuUs: 120,
      signInsPerSec: 1,
      stormAllBackSec: 1,
      stormAttempts: 10,
      pushes: 1,
      pushLatency: { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null },
      link: { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null },
    };
    const { json, calibration } = applyMeasurement(CALIBRATION_FILE, m);
    assert.equal(calibration.gateway.sessionBytes, 6000);
    assert.equal(calibration.gateway.pushCpuUs, 120);
    assert.equal((json._measured as typeof m).clients, 10);
    assert.throws(() => applyMeasurement('/nonexistent/sim.json', m), /cannot read/);
  });
});

describe('serve --workers', () => {
  test('more than one worker needs every shared engine; node ids must fit in 8 bits', () => {
    const embedded = resolveServeConfig({});
    assert.doesNotThrow(() => checkWorkers(embedded, 1));
    assert.throws(() => checkWorkers(embedded, 2), /TACO_REDIS_URL.*TACO_MYSQL_URL.*TACO_AMQP_URL/s);
    const shared = resolveServeConfig({
      engines: { redis: 'redis://x', mysql: 'mysql://x/y', amqp: 'amqp://x' },
    });
    assert.doesNotThrow(() => checkWorkers(shared, 4));
    assert.throws(() => checkWorkers(resolveServeConfig({ ...shared, node: 254 }), 4), /255/);
    assert.throws(() => checkWorkers(shared, 0), /workers/);
    // A front thread cannot share a port that node:cluster shares between processes.
    assert.throws(
      () => checkWorkers(resolveServeConfig({ ...shared, httpFront: 'thread' }), 2),
      /--http-front thread needs --workers 1/,
    );
    assert.equal(autoHttpFront(1, 2), 'thread');
    assert.equal(autoHttpFront(1, 1), 'inline');
    assert.equal(autoHttpFront(2, 8), 'inline');
  });
});
