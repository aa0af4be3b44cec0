/**
 * `taco load connect | push | storm | calibrate` end to end against a real
 * `taco serve` on port 0, with small numbers (a few hundred clients, seconds).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CalibrateResult } from '../../src/load/calibrate.js';
import type { ConnectResult } from '../../src/load/connect.js';
import type { PushResult } from '../../src/load/push.js';
import type { StormResult } from '../../src/load/storm.js';
import { CALIBRATION_FILE, CalibrationSchema } from '../../src/sim/calibration.js';
import { loadJson, type Served, serve } from './harness.js';

describe('taco load against taco serve', () => {
  let s: Served;
  before(async () => {
    s = await serve();
  });
  after(async () => {
    await s?.proc.stop();
  });

  test('connect signs every client in, holds them, and reports the server memory per session', async () => {
    const r = await loadJson<ConnectResult>(['connect', ...s.flags, '--clients', '200', '--hold', '1s']);
    assert.equal(r.kind, 'connect');
    assert.equal(r.connect.signedIn, 200);
    assert.equal(r.hold.minOpen, 200);
    assert.equal(r.hold.closes, 0);
    assert.ok(r.connect.signInsPerSec > 0);
    assert.equal(r.server?.nodes, 1);
    assert.ok((r.server?.rssBytes ?? 0) > 0);
  });

  test('push through HTTP: every accepted push is delivered and ACKed, with latency percentiles', async () => {
    const r = await loadJson<PushResult>([
      'push',
      ...s.flags,
      '--clients',
      '200',
      '--rate',
      '200',
      '--duration',
      '2s',
      '--warmup',
      '0s',
      '--server-stats',
      '1s',
      '--drain',
      '20s',
    ]);
    assert.equal(r.api, 'http');
    assert.equal(r.counts.sent, 400);
    assert.equal(r.counts.accepted, 400);
    assert.equal(r.delivered, 400);
    assert.equal(r.acked, 400);
    assert.equal(r.latency.count, 400);
    assert.ok(r.latency.p50 !== null && r.latency.p99 !== null && r.latency.p50 <= r.latency.p99);
    assert.ok(r.perSecond.length >= 2);
    assert.ok(
      r.perSecond.some((x) => x.acked !== null),
      'server ACK counts read during the run',
    );
  });

  test('push through gRPC from worker threads, with light clients', async () => {
    const r = await loadJson<PushResult>([
      'push',
      ...s.flags,
      '--api',
      'grpc',
      '--threads',
      '2',
      '--client',
      'light',
      '--clients',
      '100',
      '--rate',
      '100',
      '--duration',
      '2s',
      '--warmup',
      '0s',
      '--drain',
      '20s',
    ]);
    assert.equal(r.api, 'grpc');
    assert.equal(r.counts.accepted, 200);
    assert.equal(r.delivered, 200);
    assert.equal(r.acked, 200);
  });

  test('storm drops every session at once and waits until all are back', async () => {
    const r = await loadJson<StormResult>(['storm', ...s.flags, '--clients', '200', '--settle', '500ms']);
    assert.equal(r.kind, 'storm');
    assert.ok(r.allBackSec > 0);
    assert.equal(r.recovery.count, 200);
    assert.ok(r.attempts >= 200);
  });

  test('calibrate measures the costs and writes them into a calibration file, keeping its other settings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taco-cal-'));
    try {
      const file = join(dir, 'sim.json');
      copyFileSync(CALIBRATION_FILE, file);
      const before = JSON.parse(readFileSync(file, 'utf8'));
      const r = await loadJson<CalibrateResult>(
        [
          'calibrate',
          ...s.flags,
          '--clients',
          '200',
          '--push-rate',
          '100',
          '--push-duration',
          '1s',
          '--pings',
          '2',
          '--output',
          file,
        ],
        120_000,
      );
      assert.equal(r.written, file);
      const after = JSON.parse(readFileSync(file, 'utf8'));
      const cal = CalibrationSchema.parse(after);
      assert.match(cal.source, /^taco load calibrate/);
      for (const k of ['sessionBytes', 'signInCpuUs', 'frameCpuUs', 'pushCpuUs'] as const)
        assert.ok(cal.gateway[k] > 0, k);
      assert.deepEqual(after.network, before.network);
      assert.deepEqual(after.rpc, before.rpc);
      assert.equal(after.gateway.cores, before.gateway.cores);
      assert.equal(after._measured.clients, 200);
      assert.ok(after._measured.upgradeCpuUs > 0, 'the upgrade alone was measured');
      assert.ok(
        cal.gateway.helloShare !== undefined && cal.gateway.helloShare >= 0 && cal.gateway.helloShare <= 1,
      );
      assert.equal(cal.gateway.helloShare, after._measured.helloShare);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
