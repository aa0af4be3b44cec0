/**
 * A live drill, as `taco failover` runs it: check the SLOs (before anything
 * changes: an unknown metric is bad input, exit 2), show the plan, apply the
 * change through a node's admin API, then watch every node's /metrics for
 * `watchMs` and evaluate the SLOs on what was seen — the scenarios' grammar
 * and evaluator (src/sim/slo), with the change as the fault SLO windows are
 * anchored to: `within 30s after change` (or after its kind: `shard-switch`,
 * `dns-failover`, `rollback`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { TacoError } from '../core/errors.js';
import { YamlSource } from '../sim/scenario/yaml-source.js';
import {
  checkSlo,
  evaluateSlos,
  type FaultTime,
  parseSlo,
  SloError,
  type SloResult,
} from '../sim/slo/index.js';
import type { ChangeRequest, ChangeResult, NodeEntry } from './admin-api.js';
import type { AdminClient } from './admin-client.js';
import { type LiveNode, type LiveSnapshot, LiveWatch, liveRegistry } from './live.js';

export type DrillAction =
  | { kind: 'change'; change: ChangeRequest }
  | { kind: 'rollback'; toVersion?: number | undefined };

/** The fault kind a drill's change stands for (the scenario kinds, so SLO files are shared). */
export function faultKindOf(a: DrillAction): string {
  if (a.kind === 'rollback') return 'rollback';
  return a.change.kind === 'shards' ? 'shard-switch' : 'dns-failover';
}

/** SLOs applied when none are given: the change reaches every node; a region change drains in time. */
export function defaultSlos(a: DrillAction, watchMs: number): string[] {
  const w = `${Math.max(1, Math.floor(watchMs / 1000))}s`;
  const out = ['sometimes(map.converged) within 5s after change'];
  if (a.kind === 'rollback' || a.change.kind === 'region')
    out.push(`sometimes(drain.complete) within ${w} after change`);
  return out;
}

export interface SloInput {
  text: string;
  /** Where it was written, for error messages: `--slo` or `FILE:LINE`. */
  source: string;
}

/** Reads `slo:` (a list, the scenarios' grammar) from a YAML file; BAD_INPUT naming FILE:LINE. */
export function readSloFile(file: string): SloInput[] {
  if (!existsSync(file)) throw new TacoError('BAD_INPUT', `${file}: no such SLO file`);
  const src = new YamlSource(readFileSync(file, 'utf8'), file);
  const syntax = src.syntaxIssues()[0];
  if (syntax) throw new TacoError('BAD_INPUT', `${file}:${syntax.line}: ${syntax.message}`);
  const data = src.toJS() as { slo?: unknown } | null;
  const list = Array.isArray(data) ? data : data?.slo;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string'))
    throw new TacoError(
      'BAD_INPUT',
      `${file}:${src.lineOf(['slo'])}: expected "slo:" with a list of SLO strings`,
    );
  return (list as string[]).map((text, i) => ({
    text,
    source: `${file}:${src.lineOf(Array.isArray(data) ? [i] : ['slo', i])}: slo[${i}]`,
  }));
}

/** Parses and checks every SLO against the live metrics; the first problem is BAD_INPUT naming where. */
export function checkDrillSlos(slos: SloInput[], action: DrillAction): void {
  const registry = liveRegistry();
  const faults = [{ kind: faultKindOf(action), name: 'change' }];
  for (const s of slos) {
    try {
      checkSlo(parseSlo(s.text), registry, faults, s.text);
    } catch (e) {
      if (e instanceof SloError) throw new TacoError('BAD_INPUT', `${s.source}: ${e.message}`);
      throw e;
    }
  }
}

export interface DrillOptions {
  client: AdminClient;
  action: DrillAction;
  by: string;
  note?: string | undefined;
  dryRun: boolean;
  /** How long to watch after the change. */
  watchMs: number;
  intervalMs: number;
  slos: SloInput[];
  /** Nodes to watch besides those the admin API lists (their HTTP URLs). */
  extraNodes?: string[];
  onPlan?: (r: ChangeResult, moving: { sessions: number | null }) => void;
  onSample?: (s: LiveSnapshot, remainingMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface DrillResult {
  change: ChangeResult;
  /** Sessions that the change would drain (dry run of a region change), when known. */
  sessionsToMove: number | null;
  slos: SloResult[];
  ok: boolean;
  last: LiveSnapshot | undefined;
  nodes: LiveNode[];
}

async function discover(o: DrillOptions): Promise<LiveNode[]> {
  let listed: NodeEntry[] = [];
  try {
    listed = await o.client.nodes();
  } catch {
    // Discovery is a convenience: the URLs given still get watched.
  }
  const nodes = new Map<string, LiveNode>();
  for (const n of listed) if (n.http) nodes.set(n.http, { url: n.http, ezone: n.ezone, node: n.node });
  for (const url of [...o.client.o.urls, ...(o.extraNodes ?? [])]) {
    const u = url.replace(/\/$/, '');
    if (nodes.has(u)) continue;
    try {
      const s = await o.client.sessions(u);
      nodes.set(u, { url: u, ezone: s.ezone, node: s.node });
    } catch {
      nodes.set(u, { url: u, ezone: '?' });
    }
  }
  return [...nodes.values()].sort((a, b) => a.ezone.localeCompare(b.ezone) || (a.node ?? 0) - (b.node ?? 0));
}

/** Sessions a region change would drain: what the old ezone's nodes hold of that region. */
async function sessionsMoving(o: DrillOptions, nodes: LiveNode[], r: ChangeResult): Promise<number | null> {
  const moves = r.plan.regions;
  if (moves.length === 0) return 0;
  let n = 0;
  for (const node of nodes) {
    const s = await o.client.sessions(node.url).catch(() => undefined);
    if (!s) return null;
    for (const m of moves) if (m.from === s.ezone && m.to !== s.ezone) n += s.byRegion[m.region] ?? 0;
  }
  return n;
}

export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  checkDrillSlos(o.slos, o.action);
  const apply = (dryRun: boolean) =>
    o.action.kind === 'rollback'
      ? o.client.rollback({ toVersion: o.action.toVersion, by: o.by, note: o.note, dryRun })
      : o.client.change(o.action.change, { by: o.by, note: o.note, dryRun });
  // Always plan first: a refused change (a shard left with no ezone) stops here, before any watching.
  const plan = await apply(true);
  const nodes = await discover(o);
  const sessionsToMove = await sessionsMoving(o, nodes, plan);
  o.onPlan?.(plan, { sessions: sessionsToMove });
  if (o.dryRun) return { change: plan, sessionsToMove, slos: [], ok: true, last: undefined, nodes };

  const watch = new LiveWatch(o.client, nodes);
  await watch.scrape(); // baseline
  const change = await apply(false);
  const kind = faultKindOf(o.action);
  const atMs = watch.markChange(kind);
  watch.expect(change.current.version);
  const faults: FaultTime[] = [{ kind, name: 'change', atMs }];
  const end = Date.now() + o.watchMs;
  for (;;) {
    const left = end - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(o.intervalMs, left));
    const snap = await watch.scrape();
    o.onSample?.(snap, Math.max(0, end - Date.now()));
  }
  const slos = evaluateSlos(
    o.slos.map((s) => s.text),
    watch.recorder,
    faults,
  );
  return { change, sessionsToMove, slos, ok: slos.every((s) => s.ok), last: watch.last, nodes };
}
