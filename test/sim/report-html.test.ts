import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { niceScale, renderChart, renderHtml } from '../../src/sim/report/index.js';
import { COMMIT, sampleReport } from '../fixtures/scenarios/sample-run.js';

describe('HTML report', () => {
  const html = renderHtml(sampleReport());

  test('one self-contained file: no scripts, no external styles or resources', () => {
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<link/i);
    assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//i, 'nothing fetched from elsewhere');
    assert.doesNotMatch(html, /@import|url\(/i);
    assert.match(html, /<style>/);
  });

  test('inline SVG charts with fault markers', () => {
    assert.match(html, /<svg /);
    // 5 charts per run, 3 runs
    assert.equal(html.match(/<svg /g)!.length, 15);
    for (const title of [
      'Online connections per ezone',
      'Push latency',
      'Queue backlog',
      'Pending node-to-node RPCs',
      'Gateway memory',
    ]) {
      assert.ok(html.includes(title), title);
    }
    assert.match(html, /class="fault"/);
    assert.match(html, /class="fault-span"/);
    assert.match(html, /<polyline points="[\d., ]+"/);
    assert.match(html, /online sh/);
    assert.match(html, /online bj/);
  });

  test('names the seed, the commit and the verdict of each run; escapes text', () => {
    assert.ok(html.includes(`commit <code>${COMMIT}</code>`));
    assert.match(html, /seed 42/);
    assert.match(html, /network-cut-dns-failover \[no-jitter\]/);
    assert.match(html, /NOT as expected/);
    assert.ok(html.includes('p(99)(push.latency) &lt; 2s'), 'SLO text escaped');
    assert.ok(!html.includes('p(99)(push.latency) < 2s'));
  });

  test('a chart without data says so; scales are round', () => {
    const svg = renderChart(
      {
        id: 'x',
        title: 'X <&>',
        unit: 'ms',
        lines: [{ label: 'a', tMs: [0, 10_000], values: [null, null] }],
      },
      [],
      20_000,
    );
    assert.match(svg, /no data/);
    assert.match(svg, /X &lt;&amp;&gt;/);
    assert.deepEqual(niceScale(0), { top: 1, step: 0.2 });
    assert.deepEqual(niceScale(87), { top: 100, step: 20 });
    assert.deepEqual(niceScale(4300), { top: 5000, step: 1000 });
  });
});
