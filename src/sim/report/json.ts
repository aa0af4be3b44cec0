/**
 * `--json FILE`: the versioned summary of a `taco sim` invocation. The same
 * seed and commit must give byte-identical files, so: no wall-clock times,
 * durations or host names; objects are built field by field in a fixed order
 * and free-form maps (summary, events) are sorted by key; numbers that are
 * not finite become null and -0 becomes 0.
 */
import { writeFileSync } from 'node:fs';
import type { SloResult } from '../slo/evaluate.js';
import type { SeriesChart, SimReport, SimRunResult } from './types.js';
import { allAsExpected, judgeRun } from './verdict.js';

export const JSON_REPORT_VERSION = 1;

function num(v: number | null): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  return Object.is(v, -0) ? 0 : v;
}

function sortedMap<T>(m: Record<string, T>, f: (v: T) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(m).sort()) out[k] = f(m[k]!);
  return out;
}

function slo(s: SloResult) {
  return {
    slo: s.slo,
    ok: s.ok,
    actual: num(s.actual),
    threshold: num(s.threshold),
    unit: s.unit,
    window: s.window ? { fromMs: num(s.window.fromMs), toMs: num(s.window.toMs) } : null,
    message: s.message,
  };
}

function chart(c: SeriesChart) {
  return {
    id: c.id,
    title: c.title,
    unit: c.unit,
    lines: c.lines.map((l) => ({ label: l.label, tMs: l.tMs.map(num), values: l.values.map(num) })),
  };
}

function run(r: SimRunResult) {
  const v = judgeRun(r);
  return {
    scenario: r.scenario,
    variant: r.variant,
    seed: r.seed,
    commit: r.commit,
    scale: num(r.scale),
    durationMs: num(r.durationMs),
    expect: r.expect,
    expectedFailingSlo: r.expectedFailingSlo,
    ok: v.ok,
    verdict: v.reason,
    failedSlos: v.failedSlos,
    slos: r.slos.map(slo),
    faults: r.faults.map((f) => ({ kind: f.kind, name: f.name, atMs: num(f.atMs), forMs: num(f.forMs) })),
    eventsCount: r.eventsCount,
    events: sortedMap(r.events, num),
    summary: sortedMap(r.summary, num),
    series: r.series.map(chart),
  };
}

export function renderJson(report: SimReport): string {
  const doc = {
    version: JSON_REPORT_VERSION,
    tool: 'taco sim',
    commit: report.commit,
    seeds: [...new Set(report.runs.map((r) => r.seed))].sort((a, b) => a - b),
    ok: allAsExpected(report.runs),
    runs: report.runs.map(run),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function writeJsonReport(file: string, report: SimReport): void {
  writeFileSync(file, renderJson(report));
}
