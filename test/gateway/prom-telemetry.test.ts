import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { PromTelemetry } from '../../src/gateway/prom-telemetry.js';

describe('PromTelemetry', () => {
  test('counters, gauges and the latency histogram reach /metrics in the Prometheus text format', async () => {
    const r = new Registry();
    const t = new PromTelemetry(r, { node: 3, ezone: 'local' });
    t.count('push.delivered');
    t.count('push.delivered', 4);
    t.observe('push.latency', 3);
    t.observe('push.latency', 70_000);
    t.gauge('sessions', 12);
    const text = await r.metrics();
    assert.match(text, /^# TYPE taco_push_delivered_total counter$/m);
    assert.match(text, /^taco_push_delivered_total\{node="3",ezone="local"\} 5$/m);
    assert.match(text, /^# TYPE taco_push_latency_ms histogram$/m);
    assert.match(text, /^taco_push_latency_ms_bucket\{le="2",node="3",ezone="local"\} 0$/m);
    assert.match(text, /^taco_push_latency_ms_bucket\{le="5",node="3",ezone="local"\} 1$/m);
    assert.match(text, /^taco_push_latency_ms_bucket\{le="60000",node="3",ezone="local"\} 1$/m);
    assert.match(text, /^taco_push_latency_ms_bucket\{le="\+Inf",node="3",ezone="local"\} 2$/m);
    assert.match(text, /^taco_push_latency_ms_sum\{node="3",ezone="local"\} 70003$/m);
    assert.match(text, /^taco_push_latency_ms_count\{node="3",ezone="local"\} 2$/m);
    assert.match(text, /^taco_sessions\{node="3",ezone="local"\} 12$/m);
    // Counts between scrapes add up; a scrape does not count twice.
    t.count('push.delivered', 2);
    t.gauge('sessions', 7);
    const again = await r.metrics();
    assert.match(again, /^taco_push_delivered_total\{node="3",ezone="local"\} 7$/m);
    assert.match(again, /^taco_sessions\{node="3",ezone="local"\} 7$/m);
    const json = await r.getMetricsAsJSON();
    const h = json.find((m) => m.name === 'taco_push_latency_ms');
    assert.deepEqual(h?.values.at(-1), {
      labels: { node: 3, ezone: 'local' },
      value: 2,
      metricName: 'taco_push_latency_ms_count',
    });
  });
});
