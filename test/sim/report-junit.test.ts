import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderJunit } from '../../src/sim/report/index.js';
import { COMMIT, sampleReport } from '../fixtures/scenarios/sample-run.js';

describe('JUnit report', () => {
  const xml = renderJunit(sampleReport());

  test('one testcase per scenario × variant × SLO, one suite per run', () => {
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites '));
    assert.equal(xml.match(/<testsuite /g)!.length, 3);
    assert.equal(xml.match(/<testcase /g)!.length, 15);
    assert.match(xml, /<testsuites name="taco sim \(commit [0-9a-f]{40}, seed 42\)" tests="15" failures="1"/);
    assert.match(xml, /<testsuite name="network-cut-dns-failover \[no-jitter\]" tests="5" failures="0"/);
    assert.match(xml, /classname="taco\.sim\.network-cut-dns-failover\.base"/);
  });

  test('failures are expectations not met; SLO text escaped', () => {
    // the base run fails its p99: that testcase fails
    const base = xml.slice(
      xml.indexOf('<testsuite name="network-cut-dns-failover"'),
      xml.indexOf('</testsuite>'),
    );
    assert.match(
      base,
      /<testcase name="p\(99\)\(push\.latency\) &lt; 2s"[^>]*>\n\s*<failure message="failed" type="SloFailed">/,
    );
    // the no-jitter variant must fail on max(reconnect.recovery) and does: no failure
    const nj = xml.slice(xml.indexOf('[no-jitter]'));
    assert.match(nj, /failed as expected/);
  });

  test('properties name the seed and the commit; well-formed enough to count tags', () => {
    assert.equal(xml.match(/<property name="seed" value="42"\/>/g)!.length, 3);
    assert.equal(xml.match(new RegExp(`<property name="commit" value="${COMMIT}"/>`, 'g'))!.length, 3);
    assert.equal(xml.match(/<testcase /g)!.length, xml.match(/<\/testcase>/g)!.length);
    assert.equal(xml.match(/<testsuite /g)!.length, xml.match(/<\/testsuite>/g)!.length);
    assert.doesNotMatch(xml, /timestamp=|hostname=/);
  });
});
