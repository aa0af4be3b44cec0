/**
 * Client dispatch, an HTTP-DNS answer: `GET /v1/dispatch?region=R` →
 * `{"region","ezone","gateways":[ws URLs],"ttl":sec,"version":n}` with
 * `Cache-Control: max-age=ttl`. The ezone comes from the shard map's
 * `region → ezone`, the gateways from the live gateway directory, so a DNS
 * switch is a shard-map change. No auth: clients ask before signing in.
 *
 * 400 without a region, 404 for a region the map does not know, 503 when the
 * serving ezone has no live gateway.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TacoError } from '../core/errors.js';
import type { NodeDirectory } from '../core/ports.js';
import type { ShardMapView } from '../core/shard-map.js';

export interface DispatchAnswer {
  region: string;
  ezone: string;
  gateways: string[];
  ttl: number;
  version: number;
}

export interface DispatchApiDeps {
  view: ShardMapView;
  /** Gateways' public WebSocket URLs (a NodeDirectory whose address is `ws://host:port/v1/connect`). */
  gateways: NodeDirectory;
  /** How long clients may cache an answer. */
  ttlSec: number;
}

export async function dispatchAnswer(d: DispatchApiDeps, region: string | null): Promise<DispatchAnswer> {
  if (!region)
    throw new TacoError('INVALID_ARGUMENT', 'query parameter region is required: /v1/dispatch?region=R');
  const m = d.view.current;
  const ezone = m.regions[region];
  if (ezone === undefined)
    throw new TacoError(
      'NOT_FOUND',
      `no region "${region}" (known: ${Object.keys(m.regions).sort().join(', ')})`,
    );
  const live = await d.gateways.list(ezone);
  if (live.length === 0)
    throw new TacoError('ENGINE_UNAVAILABLE', `ezone ${ezone} serving region ${region} has no live gateway`);
  return { region, ezone, gateways: live.map((n) => n.address), ttl: d.ttlSec, version: m.version };
}

/** An `extraRoutes` handler for HttpApi: answers GET /v1/dispatch, returns false for anything else. */
export function dispatchRoutes(d: DispatchApiDeps) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (url.pathname !== '/v1/dispatch' || (req.method ?? 'GET') !== 'GET') return false;
    const answer = await dispatchAnswer(d, url.searchParams.get('region'));
    const text = JSON.stringify(answer);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': `max-age=${d.ttlSec}`,
    });
    res.end(text);
    return true;
  };
}
