/**
 * The terminal summary of `taco sim`: one block per run (scenario, variant,
 * seed, expectation, verdict) with a row per SLO (held or failed, the
 * actual value, what it needs), then a total naming the runs that were not
 * as expected and why. Colour only when asked (a TTY).
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { formatDuration } from '../scenario/duration.js';
import { formatValue } from '../slo/format-value.js';
import { parseSlo } from '../slo/parse.js';
import type { SimReport, SimRunResult } from './types.js';
import { judgeRun, sameSlo } from './verdict.js';

const ANSI = /\u001b\[[0-9;]*m/g;
const width = (s: string) => s.replace(ANSI, '').length;
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - width(s)));

/** What the SLO asks for, as written: `< 2s`, `≥ 1 event`. */
function needs(text: string): string {
  try {
    const slo = parseSlo(text);
    const window = slo.window ? ` in ${formatDuration(slo.window.durationMs)} after ${slo.window.after}` : '';
    return slo.type === 'sometimes'
      ? `≥ 1 event${window}`
      : `${slo.op} ${slo.value}${slo.unit ?? ''}${window}`;
  } catch {
    return '';
  }
}

function rows(r: SimRunResult, c: ChalkInstance): string[][] {
  const v = judgeRun(r);
  const head = [
    c.bold(r.scenario),
    r.variant ?? c.dim('(base)'),
    String(r.seed),
    r.expect,
    v.ok ? c.green('OK') : c.red.bold('NOT OK'),
  ];
  if (r.slos.length === 0) return [[...head, c.dim('(no SLOs)'), '', '']];
  return r.slos.map((s, i) => {
    const mark = s.ok ? c.green('held') : c.red('failed');
    const expected =
      r.expectedFailingSlo !== null && sameSlo(s.slo, r.expectedFailingSlo) ? c.dim(' ← must fail') : '';
    const actual = s.actual === null ? c.yellow('no data') : formatValue(s.actual, s.unit);
    const prefix = i === 0 ? head : ['', '', '', '', ''];
    return [...prefix, `${mark} ${s.slo}${expected}`, actual, needs(s.slo)];
  });
}

export interface TableOptions {
  /** Use colour; default false (callers pass process.stdout.isTTY). */
  color?: boolean;
}

export function renderTable(report: SimReport, opts: TableOptions = {}): string {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const header = ['SCENARIO', 'VARIANT', 'SEED', 'EXPECT', 'RESULT', 'SLO', 'ACTUAL', 'NEEDS'];
  const body = report.runs.flatMap((r) => rows(r, c));
  const widths = header.map((h, i) => Math.max(width(h), ...body.map((row) => width(row[i] ?? ''))));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : pad(cell, widths[i]!)))
      .join('  ')
      .trimEnd();

  const seeds = [...new Set(report.runs.map((r) => r.seed))].sort((a, b) => a - b).join(', ');
  const out = [c.dim(`taco sim · commit ${report.commit} · seed ${seeds || '-'}`), c.bold(line(header))];
  for (const r of report.runs) {
    for (const row of rows(r, c)) out.push(line(row));
  }
  const failed = report.runs.filter((r) => !judgeRun(r).ok);
  out.push('');
  out.push(
    failed.length === 0
      ? c.green(`${report.runs.length} run(s), all as expected`)
      : c.red(`${report.runs.length} run(s), ${failed.length} not as expected:`),
  );
  for (const r of failed) {
    out.push(c.red(`  ${r.scenario}${r.variant ? ` [${r.variant}]` : ''}: ${judgeRun(r).reason}`));
  }
  return `${out.join('\n')}\n`;
}
