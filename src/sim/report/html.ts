/**
 * `--report FILE.html`: one self-contained page, readable offline and safe to
 * attach to CI: inline CSS, inline SVG charts drawn by svg-chart.ts, no
 * scripts, no external styles, fonts or images. One section per run with its
 * verdict, SLOs, faults and charts; the header names the commit and seeds.
 */
import { writeFileSync } from 'node:fs';
import { formatDuration } from '../scenario/duration.js';
import { formatValue } from '../slo/format-value.js';
import { renderChart } from './svg-chart.js';
import type { SimReport, SimRunResult } from './types.js';
import { allAsExpected, judgeRun, sameSlo } from './verdict.js';
import { escapeXml as x } from './xml.js';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:980px;color:#111827;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 6px;border-top:1px solid #e5e7eb;padding-top:18px}
.meta{color:#4b5563}.ok{color:#047857;font-weight:600}.bad{color:#b91c1c;font-weight:600}
table{border-collapse:collapse;margin:8px 0 12px;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #f3f4f6;vertical-align:top}
th{font-weight:600;color:#374151;background:#f9fafb}code{font:12px ui-monospace,Menlo,Consolas,monospace}
.charts{display:grid;grid-template-columns:1fr;gap:8px}svg{max-width:100%;height:auto;background:#fff}
svg .title{font:600 13px system-ui,sans-serif;fill:#111827}svg .grid{stroke:#e5e7eb;stroke-width:1}svg .axis{stroke:#9ca3af}
svg .ylabel{font:10px system-ui,sans-serif;fill:#6b7280;text-anchor:end;dominant-baseline:middle}
svg .xlabel{font:10px system-ui,sans-serif;fill:#6b7280;text-anchor:middle}
svg .legend{font:11px system-ui,sans-serif;fill:#374151;dominant-baseline:middle}
svg .fault{stroke:#b91c1c;stroke-width:1.2;stroke-dasharray:4 3}svg .fault-span{fill:#fee2e2;opacity:.6}
svg .fault-label{font:10px system-ui,sans-serif;fill:#b91c1c}svg .nodata{font:12px system-ui,sans-serif;fill:#9ca3af;text-anchor:middle}
`;

function runSection(r: SimRunResult, i: number): string {
  const v = judgeRun(r);
  const title = `${r.scenario}${r.variant ? ` [${r.variant}]` : ''}`;
  const slos = r.slos
    .map((s) => {
      const must =
        r.expectedFailingSlo !== null && sameSlo(s.slo, r.expectedFailingSlo) ? ' <em>(must fail)</em>' : '';
      return (
        `<tr><td class="${s.ok ? 'ok' : 'bad'}">${s.ok ? 'held' : 'failed'}</td><td><code>${x(s.slo)}</code>${must}</td>` +
        `<td>${x(formatValue(s.actual, s.unit))}</td><td>${x(s.message)}</td></tr>`
      );
    })
    .join('\n');
  const faults = r.faults
    .map(
      (f) =>
        `<tr><td>${x(formatDuration(f.atMs))}</td><td>${x(f.kind)}</td><td>${x(f.name ?? '')}</td>` +
        `<td>${f.forMs === null ? 'not healed' : x(formatDuration(f.forMs))}</td></tr>`,
    )
    .join('\n');
  const charts = r.series.map((c) => renderChart(c, r.faults, r.durationMs)).join('\n');
  return `<section id="run-${i}">
<h2>${x(title)} — <span class="${v.ok ? 'ok' : 'bad'}">${v.ok ? 'as expected' : 'NOT as expected'}</span></h2>
<p class="meta">seed ${r.seed} · commit <code>${x(r.commit)}</code> · scale ${r.scale} · ${x(formatDuration(r.durationMs))} simulated · expect ${r.expect} · ${r.eventsCount} events<br>${x(v.reason)}</p>
<table><thead><tr><th></th><th>SLO</th><th>actual</th><th>detail</th></tr></thead><tbody>
${slos || '<tr><td colspan="4">no SLOs</td></tr>'}
</tbody></table>
${faults ? `<table><thead><tr><th>at</th><th>fault</th><th>name</th><th>for</th></tr></thead><tbody>\n${faults}\n</tbody></table>` : '<p class="meta">no faults</p>'}
<div class="charts">
${charts}
</div>
</section>`;
}

export function renderHtml(report: SimReport): string {
  const ok = allAsExpected(report.runs);
  const seeds = [...new Set(report.runs.map((r) => r.seed))].sort((a, b) => a - b).join(', ');
  const index = report.runs
    .map((r, i) => {
      const v = judgeRun(r);
      return `<li><a href="#run-${i}">${x(r.scenario)}${r.variant ? ` [${x(r.variant)}]` : ''}</a> — <span class="${v.ok ? 'ok' : 'bad'}">${v.ok ? 'as expected' : 'not as expected'}</span></li>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taco sim report — commit ${x(report.commit)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>taco sim — <span class="${ok ? 'ok' : 'bad'}">${ok ? 'all runs as expected' : 'some runs not as expected'}</span></h1>
<p class="meta">commit <code>${x(report.commit)}</code> · seed ${x(seeds || '-')} · ${report.runs.length} run(s)</p>
<ul>
${index}
</ul>
${report.runs.map(runSection).join('\n')}
</body>
</html>
`;
}

export function writeHtmlReport(file: string, report: SimReport): void {
  writeFileSync(file, renderHtml(report));
}
