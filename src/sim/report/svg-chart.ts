/**
 * Line charts as inline SVG, drawn here so the HTML report needs no script or
 * library: time on x (from the start of the run), the value on y from 0, one
 * polyline per line (broken where a bucket has no data), and each fault as a
 * dashed vertical marker with its active span shaded.
 */
import { formatDuration } from '../scenario/duration.js';
import { formatValue } from '../slo/format-value.js';
import type { FaultRecord, SeriesChart } from './types.js';
import { escapeXml as x } from './xml.js';

const W = 760;
const H = 250;
const M = { left: 78, right: 16, top: 30, bottom: 34 };
const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

/** A "nice" upper bound and step for about `n` ticks from 0 to `max`. */
export function niceScale(max: number, n = 5): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

/** Tick step on the time axis: a round duration giving at most ~8 ticks. */
function timeStep(durationMs: number): number {
  const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400].map((s) => s * 1000);
  return steps.find((s) => durationMs / s <= 8) ?? 86_400_000;
}

/** Units that change how a number is written (1.5s, 2 MiB, 5%); others are left off tick labels. */
const axisUnit = (unit: string) => (unit === 'ms' || unit === 'bytes' || unit === 'ratio' ? unit : '');

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

export function renderChart(chart: SeriesChart, faults: readonly FaultRecord[], durationMs: number): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const first = chart.lines[0]?.tMs ?? [];
  const bucketMs = first.length > 1 ? first[1]! - first[0]! : durationMs || 1;
  const span = Math.max(durationMs, 1);
  const xOf = (t: number) => M.left + (Math.min(Math.max(t, 0), span) / span) * plotW;
  let max = 0;
  for (const l of chart.lines) for (const v of l.values) if (v !== null && v > max) max = v;
  const { top, step } = niceScale(max);
  const yOf = (v: number) => M.top + plotH - (v / top) * plotH;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${x(chart.title)}">`,
  );
  parts.push(`<text x="${M.left}" y="18" class="title">${x(chart.title)}</text>`);
  // Faults under the data: shaded span, then the marker line and its label.
  faults.forEach((f, i) => {
    const x0 = xOf(f.atMs);
    if (f.forMs !== null) {
      const x1 = xOf(f.atMs + f.forMs);
      parts.push(
        `<rect x="${fmt(x0)}" y="${M.top}" width="${fmt(Math.max(x1 - x0, 1))}" height="${plotH}" class="fault-span"/>`,
      );
    }
    parts.push(`<line x1="${fmt(x0)}" y1="${M.top}" x2="${fmt(x0)}" y2="${M.top + plotH}" class="fault"/>`);
    parts.push(
      `<text x="${fmt(x0 + 3)}" y="${M.top + 10 + (i % 3) * 11}" class="fault-label">${x(f.name ?? f.kind)}</text>`,
    );
  });
  // Axes and grid.
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = fmt(yOf(v));
    parts.push(`<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" class="grid"/>`);
    parts.push(
      `<text x="${M.left - 6}" y="${y}" class="ylabel">${x(formatValue(v, axisUnit(chart.unit)))}</text>`,
    );
  }
  const tStep = timeStep(span);
  for (let t = 0; t <= span; t += tStep) {
    parts.push(
      `<text x="${fmt(xOf(t))}" y="${H - M.bottom + 16}" class="xlabel">${t === 0 ? '0' : formatDuration(t)}</text>`,
    );
  }
  parts.push(
    `<line x1="${M.left}" y1="${M.top + plotH}" x2="${W - M.right}" y2="${M.top + plotH}" class="axis"/>`,
  );
  // Data: each point at the middle of its bucket; a null breaks the line.
  chart.lines.forEach((l, i) => {
    const color = PALETTE[i % PALETTE.length];
    let seg: string[] = [];
    const flush = () => {
      if (seg.length === 1)
        parts.push(
          `<circle cx="${seg[0]!.split(',')[0]}" cy="${seg[0]!.split(',')[1]}" r="2" fill="${color}"/>`,
        );
      else if (seg.length > 1)
        parts.push(
          `<polyline points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="1.6"><title>${x(l.label)}</title></polyline>`,
        );
      seg = [];
    };
    l.values.forEach((v, k) => {
      if (v === null) {
        flush();
        return;
      }
      seg.push(`${fmt(xOf(l.tMs[k]! + bucketMs / 2))},${fmt(yOf(v))}`);
    });
    flush();
    parts.push(
      `<rect x="${W - M.right - 150}" y="${M.top + 4 + i * 14}" width="10" height="3" fill="${color}"/>` +
        `<text x="${W - M.right - 136}" y="${M.top + 8 + i * 14}" class="legend">${x(l.label)}</text>`,
    );
  });
  if (chart.lines.every((l) => l.values.every((v) => v === null))) {
    parts.push(`<text x="${M.left + plotW / 2}" y="${M.top + plotH / 2}" class="nodata">no data</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
