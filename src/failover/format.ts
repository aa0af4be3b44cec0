/** What `taco failover` prints: plans, the map's status, live lines and the SLO verdicts. */
import { formatShardList, type ShardMapPlan, type ShardMapState, shardsByEzone } from '../core/shard-map.js';
import type { SloResult } from '../sim/slo/index.js';
import type { ChangeResult } from './admin-api.js';
import type { LiveSnapshot } from './live.js';

function describeChange(m: ShardMapState): string {
  const c = m.change;
  const what =
    c.kind === 'shards'
      ? `shards ${formatShardList(c.shards ?? [])} → ${c.to}`
      : c.kind === 'region'
        ? `region ${c.region} → ${c.to}`
        : c.kind === 'rollback'
          ? `rollback to the content of v${c.restores}`
          : 'first map';
  return `v${m.version} ${what} by ${c.by} at ${new Date(c.at).toISOString()}${c.note ? ` (${c.note})` : ''}`;
}

export function formatPlan(p: ShardMapPlan): string[] {
  const lines: string[] = [];
  const groups = new Map<string, number[]>();
  for (const m of p.shards) {
    const k = `${m.from} → ${m.to}`;
    groups.set(k, [...(groups.get(k) ?? []), m.shard]);
  }
  for (const [k, shards] of groups)
    lines.push(`  shards ${formatShardList(shards)}: ${k} (${shards.length})`);
  for (const r of p.regions) lines.push(`  region ${r.region}: ${r.from ?? '-'} → ${r.to ?? '-'}`);
  for (const e of p.ezonesAdded) lines.push(`  ezone ${e} added`);
  for (const e of p.ezonesRemoved) lines.push(`  ezone ${e} removed`);
  if (lines.length === 0) lines.push('  nothing moves');
  return lines;
}

export function formatChange(r: ChangeResult, sessions: number | null, planOnly = r.dryRun): string {
  const head = r.dryRun
    ? `${planOnly ? 'dry run' : 'plan'}: v${r.previous.version} → v${r.current.version} ${planOnly ? 'would move' : 'moves'}:`
    : `applied ${describeChange(r.current)}; moved:`;
  const lines = [head, ...formatPlan(r.plan)];
  if (r.plan.regions.length)
    lines.push(`  sessions to drain: ${sessions === null ? 'unknown (a node did not answer)' : sessions}`);
  return lines.join('\n');
}

export function formatStatus(current: ShardMapState, history: ShardMapState[]): string {
  const lines = [
    `shard map v${current.version} (${current.shards.length} shards, ezones ${current.ezones.join(', ')})`,
  ];
  for (const [ez, shards] of Object.entries(shardsByEzone(current)))
    lines.push(`  ${ez.padEnd(8)} shards ${shards || '-'}`);
  for (const [r, ez] of Object.entries(current.regions).sort()) lines.push(`  region ${r} → ${ez}`);
  if (history.length) {
    lines.push('changes (newest first):');
    for (const m of history) lines.push(`  ${describeChange(m)}`);
  }
  return lines.join('\n');
}

export function formatSnapshotLine(s: LiveSnapshot): string {
  const ez = s.ezones
    .map(
      (e) =>
        `${e.ezone}: ${e.sessions} sessions${e.misplaced ? ` (${e.misplaced} to move)` : ''}, backlog ${e.backlog}`,
    )
    .join(' | ');
  const push = `push ${s.deliveredPerSec.toFixed(1)}/s delivered, ok ${s.success === null ? '—' : `${(s.success * 100).toFixed(1)}%`}, p99 ${s.p99Ms === null ? '—' : `${Math.round(s.p99Ms)}ms`}`;
  const down = s.unreachable.length ? ` | unreachable: ${s.unreachable.join(', ')}` : '';
  return `t+${(s.elapsedMs / 1000).toFixed(0)}s ${ez} | ${push}${down}`;
}

export function formatSloResults(results: SloResult[]): string {
  const lines = results.map((r) => `  ${r.ok ? 'ok  ' : 'FAIL'} ${r.slo}: ${r.message}`);
  const failed = results.filter((r) => !r.ok).length;
  lines.push(
    failed
      ? `drill: ${failed} of ${results.length} SLO(s) failed`
      : `drill: all ${results.length} SLO(s) held`,
  );
  return lines.join('\n');
}
