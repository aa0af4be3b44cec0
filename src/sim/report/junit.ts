/**
 * `--junit FILE`: JUnit XML for CI dashboards. One testsuite per run
 * (scenario × variant) and one testcase per SLO; a testcase fails when its
 * SLO did not go as the run expects (see judgeSlo). Properties name the seed
 * and the commit. Times are 0: there are no wall-clock times in reports.
 */
import { writeFileSync } from 'node:fs';
import type { SimReport, SimRunResult } from './types.js';
import { judgeSlo } from './verdict.js';
import { escapeXml as x } from './xml.js';

function suiteName(r: SimRunResult): string {
  return r.variant === null ? r.scenario : `${r.scenario} [${r.variant}]`;
}

function suite(r: SimRunResult): string {
  const cls = `taco.sim.${r.scenario}.${r.variant ?? 'base'}`;
  const cases = r.slos.map((s, i) => {
    const j = judgeSlo(r, i);
    const out = `      <system-out>${x(`${s.message} — ${j.note}`)}</system-out>\n`;
    const failure = j.ok
      ? ''
      : `      <failure message="${x(j.note)}" type="${r.expect === 'pass' ? 'SloFailed' : 'ExpectationFailed'}">${x(s.message)}</failure>\n`;
    return `    <testcase name="${x(s.slo)}" classname="${x(cls)}" time="0">\n${failure}${out}    </testcase>\n`;
  });
  const failures = r.slos.filter((_, i) => !judgeSlo(r, i).ok).length;
  const props = [
    ['seed', String(r.seed)],
    ['commit', r.commit],
    ['scale', String(r.scale)],
    ['variant', r.variant ?? ''],
    ['expect', r.expect],
  ]
    .map(([k, v]) => `      <property name="${k}" value="${x(v!)}"/>\n`)
    .join('');
  return (
    `  <testsuite name="${x(suiteName(r))}" tests="${r.slos.length}" failures="${failures}" errors="0" skipped="0" time="0">\n` +
    `    <properties>\n${props}    </properties>\n${cases.join('')}  </testsuite>\n`
  );
}

export function renderJunit(report: SimReport): string {
  const tests = report.runs.reduce((n, r) => n + r.slos.length, 0);
  const failures = report.runs.reduce((n, r) => n + r.slos.filter((_, i) => !judgeSlo(r, i).ok).length, 0);
  const seeds = [...new Set(report.runs.map((r) => r.seed))].sort((a, b) => a - b).join(',');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name="taco sim (commit ${x(report.commit)}, seed ${x(seeds)})" tests="${tests}" failures="${failures}" errors="0" time="0">\n` +
    report.runs.map(suite).join('') +
    '</testsuites>\n'
  );
}

export function writeJunitReport(file: string, report: SimReport): void {
  writeFileSync(file, renderJunit(report));
}
