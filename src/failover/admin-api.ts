/**
 * The node side of `taco failover`: an admin HTTP API on the node's HTTP port
 * (mounted through HttpApi's `extraRoutes`). Changes are applied through the
 * ShardMapStore (compare-and-set on the version), then offered to this node's
 * own view at once; the other nodes learn them through their followers.
 *
 *   GET  /admin/v1/shard-map[?history=N]   current map and the last N versions
 *   POST /admin/v1/shard-map/plan          {change} → what it would move (dry run)
 *   POST /admin/v1/shard-map/changes       {change, by, note?, expectedVersion?} → applied
 *   POST /admin/v1/shard-map/rollback      {toVersion?, by, note?, expectedVersion?, dryRun?}
 *   GET  /admin/v1/nodes                   every live node: ezone, HTTP and WebSocket URLs
 *   GET  /admin/v1/sessions                this node's sessions per region, and misplaced ones
 *
 * `change` is `{"kind":"shards","shards":"0-14","to":"bj"}` or
 * `{"kind":"region","region":"sh","to":"bj"}`. With an admin token configured,
 * every call needs `Authorization: Bearer TOKEN` (401 otherwise).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TacoError } from '../core/errors.js';
import type { Session } from '../core/gateway.js';
import type { TacoNode } from '../core/node.js';
import type { NodeDirectory, ShardMapStore } from '../core/ports.js';
import {
  applyShardMapChange,
  commitShardMapChange,
  diffShardMaps,
  movedReason,
  parseShardList,
  rollbackTarget,
  type ShardMapChange,
  type ShardMapPlan,
  type ShardMapState,
  type ShardMapView,
} from '../core/shard-map.js';

export const ADMIN_PREFIX = '/admin/v1/';
const MAX_BODY = 64 * 1024;

export interface AdminApiDeps {
  store: ShardMapStore;
  view: ShardMapView;
  node: TacoNode;
  regionOf: (s: Session) => string | undefined;
  /** Nodes' HTTP base URLs and gateways' WebSocket URLs, for discovery. */
  httpDirectory?: NodeDirectory | undefined;
  gatewayDirectory?: NodeDirectory | undefined;
  /** When set, every admin call needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
  now: () => number;
}

export interface ChangeRequest {
  kind: 'shards' | 'region';
  shards?: string | number[];
  region?: string;
  to?: string;
}

export interface ChangeResult {
  previous: ShardMapState;
  current: ShardMapState;
  plan: ShardMapPlan;
  dryRun: boolean;
}

export interface NodeSessions {
  node: number;
  ezone: string;
  mapVersion: number;
  sessions: number;
  byRegion: Record<string, number>;
  misplaced: number;
}

export interface NodeEntry {
  node: number;
  ezone: string;
  http?: string | undefined;
  ws?: string | undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new TacoError('BODY_TOO_LARGE', `body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new TacoError('INVALID_ARGUMENT', 'body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new TacoError('INVALID_ARGUMENT', 'body must be a JSON object');
  return v as Record<string, unknown>;
}

/** A change request (JSON) → a change on `m`; BAD_INPUT naming what is wrong. */
export function parseChangeRequest(raw: unknown, m: ShardMapState): ShardMapChange {
  const c = raw as ChangeRequest | undefined;
  if (typeof c !== 'object' || c === null) throw new TacoError('BAD_INPUT', 'change: expected an object');
  if (typeof c.to !== 'string' || !c.to)
    throw new TacoError('BAD_INPUT', 'change.to: the target ezone is required');
  if (c.kind === 'shards') {
    const shards =
      typeof c.shards === 'string'
        ? parseShardList(c.shards, m.shards.length)
        : Array.isArray(c.shards)
          ? parseShardList(c.shards.join(','), m.shards.length)
          : undefined;
    if (!shards) throw new TacoError('BAD_INPUT', 'change.shards: expected shards like "0-14"');
    return { kind: 'shards', shards, to: c.to };
  }
  if (c.kind === 'region') {
    if (typeof c.region !== 'string' || !c.region)
      throw new TacoError('BAD_INPUT', 'change.region is required');
    return { kind: 'region', region: c.region, to: c.to };
  }
  throw new TacoError(
    'BAD_INPUT',
    `change.kind: expected "shards" or "region", got ${JSON.stringify(c.kind)}`,
  );
}

function authorized(header: string | undefined, token: string): boolean {
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

function by(body: Record<string, unknown>): string {
  const b = body.by;
  return typeof b === 'string' && b.trim() ? b.trim().slice(0, 255) : 'unknown';
}

function note(body: Record<string, unknown>): string | undefined {
  return typeof body.note === 'string' && body.note ? body.note.slice(0, 500) : undefined;
}

function expected(body: Record<string, unknown>): number | undefined {
  const v = body.expectedVersion;
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v)) throw new TacoError('BAD_INPUT', 'expectedVersion must be an integer');
  return v as number;
}

export class AdminApi {
  constructor(private readonly d: AdminApiDeps) {}

  /** An `extraRoutes` handler: true when it answered. */
  readonly routes = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (!url.pathname.startsWith(ADMIN_PREFIX)) return false;
    if (this.d.token && !authorized(req.headers.authorization, this.d.token))
      throw new TacoError('UNAUTHENTICATED', 'admin API: Authorization: Bearer <admin token> required');
    const path = url.pathname.slice(ADMIN_PREFIX.length);
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === 'shard-map') {
      const n = Math.min(100, Math.max(0, Number(url.searchParams.get('history') ?? 10) || 0));
      const [current, history] = await Promise.all([this.d.store.current(), this.d.store.history(n)]);
      sendJson(res, 200, { current: current ?? this.d.view.current, history });
    } else if (method === 'POST' && path === 'shard-map/plan') {
      const body = await readBody(req);
      sendJson(res, 200, await this.change(body, true));
    } else if (method === 'POST' && path === 'shard-map/changes') {
      const body = await readBody(req);
      sendJson(res, 200, await this.change(body, body.dryRun === true));
    } else if (method === 'POST' && path === 'shard-map/rollback') {
      sendJson(res, 200, await this.rollback(await readBody(req)));
    } else if (method === 'GET' && path === 'nodes') {
      sendJson(res, 200, { nodes: await this.nodes() });
    } else if (method === 'GET' && path === 'sessions') {
      sendJson(res, 200, this.sessions());
    } else {
      throw new TacoError('NOT_FOUND', `no admin route ${method} ${url.pathname}`);
    }
    return true;
  };

  async change(body: Record<string, unknown>, dryRun: boolean): Promise<ChangeResult> {
    const meta = { by: by(body), at: this.d.now(), note: note(body) };
    if (dryRun) {
      const previous = (await this.d.store.current()) ?? this.d.view.current;
      const current = applyShardMapChange(previous, parseChangeRequest(body.change, previous), meta);
      return { previous, current, plan: diffShardMaps(previous, current), dryRun: true };
    }
    const r = await commitShardMapChange(
      this.d.store,
      (cur) => parseChangeRequest(body.change, cur),
      meta,
      expected(body),
    );
    this.d.view.offer(r.current);
    return { ...r, dryRun: false };
  }

  async rollback(body: Record<string, unknown>): Promise<ChangeResult> {
    const meta = { by: by(body), at: this.d.now(), note: note(body) };
    const toVersion =
      body.toVersion === undefined || body.toVersion === null ? undefined : Number(body.toVersion);
    const find = (v: number) => this.d.store.get(v);
    if (body.dryRun === true) {
      const previous = (await this.d.store.current()) ?? this.d.view.current;
      const target = await rollbackTarget(previous, find, toVersion);
      const current = applyShardMapChange(previous, { kind: 'rollback', target }, meta);
      return { previous, current, plan: diffShardMaps(previous, current), dryRun: true };
    }
    const r = await commitShardMapChange(
      this.d.store,
      async (cur) => ({ kind: 'rollback', target: await rollbackTarget(cur, find, toVersion) }),
      meta,
      expected(body),
    );
    this.d.view.offer(r.current);
    return { ...r, dryRun: false };
  }

  async nodes(): Promise<NodeEntry[]> {
    const [http, ws] = await Promise.all([
      this.d.httpDirectory?.list() ?? Promise.resolve([]),
      this.d.gatewayDirectory?.list() ?? Promise.resolve([]),
    ]);
    const out = new Map<number, NodeEntry>();
    for (const n of http) out.set(n.node, { node: n.node, ezone: n.ezone, http: n.address });
    for (const n of ws) {
      const e = out.get(n.node) ?? { node: n.node, ezone: n.ezone };
      e.ws = n.address;
      out.set(n.node, e);
    }
    return [...out.values()].sort((a, b) => a.node - b.node);
  }

  sessions(): NodeSessions {
    const { node, view, regionOf } = this.d;
    const m = view.current;
    const byRegion: Record<string, number> = {};
    let sessions = 0;
    let misplaced = 0;
    node.gateway.countSessions((s) => {
      sessions++;
      const r = regionOf(s) ?? '(none)';
      byRegion[r] = (byRegion[r] ?? 0) + 1;
      if (movedReason(m, node.id.ezone, regionOf(s)) !== undefined) misplaced++;
      return false;
    });
    return { node: node.id.node, ezone: node.id.ezone, mapVersion: m.version, sessions, byRegion, misplaced };
  }
}
