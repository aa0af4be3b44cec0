/**
 * The client side of the admin API (admin-api.ts) and of the nodes' /metrics,
 * for `taco failover`. Every request has a deadline; the admin calls go to the
 * first URL that answers (any node can apply a change: the store is shared).
 */
import { type ErrorCode, ErrorCodes, TacoError } from '../core/errors.js';
import type { ShardMapState } from '../core/shard-map.js';
import type { ChangeRequest, ChangeResult, NodeEntry, NodeSessions } from './admin-api.js';

export interface AdminClientOptions {
  /** Base URLs of nodes' HTTP ports. */
  urls: string[];
  token?: string | undefined;
  timeoutMs: number;
}

function errorOf(status: number, body: unknown, what: string): TacoError {
  const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const wire = err?.code?.replace(/^TACO_ERR_/, '') ?? '';
  const code: ErrorCode =
    wire in ErrorCodes
      ? (wire as ErrorCode)
      : status === 401
        ? 'UNAUTHENTICATED'
        : status === 404
          ? 'NOT_FOUND'
          : status >= 500
            ? 'ENGINE_UNAVAILABLE'
            : 'BAD_INPUT';
  return new TacoError(code, `${what}: ${err?.message ?? `HTTP ${status}`}`);
}

export class AdminClient {
  constructor(readonly o: AdminClientOptions) {
    if (o.urls.length === 0) throw new TacoError('BAD_INPUT', 'no node URL given (--url)');
  }

  async fetchJson<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
    const what = `${method} ${new URL(path, base).href}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, base), {
        method,
        headers: {
          ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (e) {
      if ((e as Error).name === 'TimeoutError')
        throw new TacoError('DEADLINE_EXCEEDED', `${what}: no answer within ${this.o.timeoutMs} ms`);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new TacoError(
        'ENGINE_UNAVAILABLE',
        `${what}: cannot reach the node (${cause?.code ?? cause?.message ?? (e as Error).message})`,
        {
          unreachable: true,
        },
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new TacoError('INTERNAL', `${what}: answer is not JSON (HTTP ${res.status})`);
    }
    if (!res.ok) throw errorOf(res.status, json, what);
    return json as T;
  }

  /** An admin call on the first node that answers; errors from a node that answered are final. */
  private async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
    let last: unknown;
    for (const url of this.o.urls) {
      try {
        return await this.fetchJson<T>(url, method, path, body);
      } catch (e) {
        const t = e as TacoError;
        if (!(t.details?.unreachable || t.code === 'DEADLINE_EXCEEDED')) throw e;
        last = e;
      }
    }
    throw last;
  }

  shardMap(history = 10): Promise<{ current: ShardMapState; history: ShardMapState[] }> {
    return this.admin('GET', `/admin/v1/shard-map?history=${history}`);
  }

  change(
    change: ChangeRequest,
    meta: { by: string; note?: string | undefined; dryRun: boolean; expectedVersion?: number | undefined },
  ): Promise<ChangeResult> {
    return this.admin('POST', meta.dryRun ? '/admin/v1/shard-map/plan' : '/admin/v1/shard-map/changes', {
      change,
      ...meta,
    });
  }

  rollback(o: {
    toVersion?: number | undefined;
    by: string;
    note?: string | undefined;
    dryRun: boolean;
  }): Promise<ChangeResult> {
    return this.admin('POST', '/admin/v1/shard-map/rollback', o);
  }

  async nodes(): Promise<NodeEntry[]> {
    return (await this.admin<{ nodes: NodeEntry[] }>('GET', '/admin/v1/nodes')).nodes;
  }

  sessions(nodeUrl: string): Promise<NodeSessions> {
    return this.fetchJson(nodeUrl, 'GET', '/admin/v1/sessions');
  }

  async metrics(nodeUrl: string): Promise<string> {
    const res = await fetch(new URL('/metrics', nodeUrl), { signal: AbortSignal.timeout(this.o.timeoutMs) });
    if (!res.ok) throw new TacoError('ENGINE_UNAVAILABLE', `GET ${nodeUrl}/metrics: HTTP ${res.status}`);
    return res.text();
  }
}
