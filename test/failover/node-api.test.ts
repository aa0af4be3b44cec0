// One multi-ezone node from `taco serve` flags (openMultiDc): the dispatch answer (HTTP-DNS), the admin API
// with its token, plan/refusal/apply/rollback through HTTP, and the drill gauges on /metrics.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileShardMapStore } from '../../src/engines/embedded/shard-map-store.js';
import { openMultiDc } from '../../src/failover/node-wiring.js';
import { resolveServeConfig } from '../../src/server/config-file.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import { DRILL_APP } from './fleet.js';

const TOKEN = 'drill-token-123';

describe('a multi-ezone node: dispatch and admin APIs', () => {
  let server: RunningServer;
  let http: string;
  const file = join(mkdtempSync(join(tmpdir(), 'taco-node-')), 'gzs.json');
  before(async () => {
    const multiDc = await openMultiDc({ ezones: 'sh,bj', shardMap: file, adminToken: TOKEN }, 'sh', () => {});
    const config = resolveServeConfig({
      ezone: 'sh',
      node: 3,
      apps: [DRILL_APP],
      ports: { ws: 0, http: 0, grpc: 0 },
    });
    server = await startServer({ config, multiDc });
    http = `http://127.0.0.1:${server.ready.http}`;
  });
  after(async () => server?.stop());

  const get = async (path: string, token?: string) => {
    const res = await fetch(http + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
  };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(http + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  test('GET /v1/dispatch answers the serving ezone’s gateways with a TTL', async () => {
    const a = await get('/v1/dispatch?region=sh');
    assert.equal(a.status, 200);
    assert.deepEqual(a.json.gateways, [`ws://127.0.0.1:${server.ready.ws}/v1/connect`]);
    assert.equal(a.json.ezone, 'sh');
    assert.equal(a.headers.get('cache-control'), `max-age=${a.json.ttl}`);
    assert.equal((await get('/v1/dispatch?region=bj')).status, 503, 'bj has no live gateway');
    assert.equal((await get('/v1/dispatch?region=gz')).status, 404);
    assert.equal((await get('/v1/dispatch')).status, 400);
  });

  test('the admin API needs the token; plans, refuses, applies and rolls back through the shared store', async () => {
    assert.equal((await get('/admin/v1/shard-map')).status, 401);
    const m = await get('/admin/v1/shard-map', TOKEN);
    assert.equal((m.json.current as { version: number }).version, 1);
    const plan = await post('/admin/v1/shard-map/plan', {
      change: { kind: 'shards', shards: '0-2', to: 'bj' },
      by: 't',
    });
    assert.equal((plan.json.plan as { shards: unknown[] }).shards.length, 3);
    const bad = await post('/admin/v1/shard-map/changes', {
      change: { kind: 'shards', shards: '0-2', to: 'gz' },
      by: 't',
    });
    assert.equal(bad.status, 400);
    assert.match(String((bad.json.error as { message: string }).message), /shards 0-2 would have no ezone/);
    const dns = await post('/admin/v1/shard-map/changes', {
      change: { kind: 'region', region: 'sh', to: 'bj' },
      by: 't',
    });
    assert.equal(dns.status, 200);
    assert.equal(
      (await new FileShardMapStore(file).current())!.regions.sh,
      'bj',
      'in the file every node reads',
    );
    assert.equal(
      (await get('/v1/dispatch?region=sh')).status,
      503,
      'sh now answered by bj (no gateway there yet)',
    );
    const stale = await post('/admin/v1/shard-map/changes', {
      change: { kind: 'shards', shards: '1', to: 'bj' },
      by: 't',
      expectedVersion: 1,
    });
    assert.equal(stale.status, 400);
    assert.match(String((stale.json.error as { message: string }).message), /changed meanwhile/);
    const back = await post('/admin/v1/shard-map/rollback', { by: 't' });
    assert.equal(back.status, 200);
    assert.equal(
      (back.json.current as { version: number; regions: Record<string, string> }).regions.sh,
      'sh',
    );
    assert.equal((await get('/v1/dispatch?region=sh')).status, 200);
  });

  test('drill gauges on /metrics', async () => {
    const text = await (await fetch(`${http}/metrics`)).text();
    for (const name of [
      'taco_sessions_online',
      'taco_sessions_misplaced',
      'taco_queue_backlog',
      'taco_shard_map_version',
      'taco_replication_pending',
    ])
      assert.match(text, new RegExp(`^${name}\\{node="3",ezone="sh"\\} \\d+`, 'm'), name);
  });
});
