/** `taco sim` as CI runs it: exit codes, determinism, and every shipped scenario at reduced scale. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { taco } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'taco-sim-'));

describe('taco sim', () => {
  test('same seed and commit → byte-identical JSON; another seed → different JSON', async () => {
    const a = join(tmp, 'a.json');
    const b = join(tmp, 'b.json');
    const c = join(tmp, 'c.json');
    const args = ['sim', 'scenarios/baseline-1.6m.yaml', '--scale', '0.005', '--base-only', '--quiet'];
    const [ra, rb, rc] = await Promise.all([
      taco([...args, '--json', a]),
      taco([...args, '--json', b]),
      taco([...args, '--json', c, '--seed', '7']),
    ]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(rc.code, 0, rc.stderr);
    assert.equal(readFileSync(a, 'utf8'), readFileSync(b, 'utf8'));
    assert.notEqual(readFileSync(a, 'utf8'), readFileSync(c, 'utf8'));
    const json = JSON.parse(readFileSync(a, 'utf8'));
    assert.equal(json.version, 1);
    assert.equal(json.runs[0].seed, 42);
  });

  test('a scenario whose SLO cannot hold exits 1 and names the SLO', async () => {
    const r = await taco(['sim', 'test/fixtures/scenarios/impossible-slo.yaml', '--quiet']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /p\(99\)\(push\.latency\) < 1ms/);
  });

  test('a malformed scenario exits 2 naming the file and line', async () => {
    const r = await taco(['sim', 'test/fixtures/scenarios/malformed.yaml', '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /malformed\.yaml:\d+/);
  });

  test('an unknown metric exits 2 naming it', async () => {
    const r = await taco(['sim', 'test/fixtures/scenarios/unknown-metric.yaml', '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown-metric\.yaml:\d+.*push\.latenzy/s);
  });

  test('a missing file and a bad flag exit 2', async () => {
    assert.equal((await taco(['sim', 'no/such.yaml'])).code, 2);
    assert.equal((await taco(['sim', 'scenarios/baseline-1.6m.yaml', '--scale', 'lots'])).code, 2);
  });

  test('every shipped scenario meets its SLOs and every variant fails as expected (scale 0.01)', async () => {
    const json = join(tmp, 'all.json');
    const html = join(tmp, 'all.html');
    const junit = join(tmp, 'all.xml');
    const r = await taco(
      ['sim', '--scale', '0.01', '--quiet', '--json', json, '--report', html, '--junit', junit],
      {
        timeoutMs: 400_000,
      },
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    const names = new Set(report.runs.map((x: { scenario: string }) => x.scenario));
    for (const s of [
      'baseline-1600k',
      'network-cut-dns-failover',
      'close-wait-leak',
      'grpc-stream-quota',
      'mq-backlog',
      'auth-cache-cancel',
      'gateway-crash',
      'engine-outage',
    ]) {
      assert.ok(names.has(s), `scenario ${s} ran`);
    }
    // Every scenario ships a variant that must fail.
    for (const s of names) {
      assert.ok(
        report.runs.some(
          (x: { scenario: string; expect: string }) => x.scenario === s && x.expect === 'fail',
        ),
        `${s} has an expect: fail variant`,
      );
    }
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<svg/);
    assert.doesNotMatch(page, /<script[^>]+src=|<link /);
    assert.match(readFileSync(junit, 'utf8'), /<testsuites/);
  });
});
