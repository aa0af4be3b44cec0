/**
 * Reads a running taco node's own figures from `GET /metrics` (Prometheus
 * text): ACKed pushes, CPU seconds, resident memory, sessions. With
 * `taco serve --workers N` the HTTP port is shared, so one scrape reaches one
 * worker; `scrapeNodes` opens a fresh connection per scrape until it has seen
 * every node (told apart by the `node` label) and sums over them.
 */
import { request } from 'node:http';
import { TacoError } from '../core/errors.js';

export interface NodeSample {
  node: string;
  /** metric name (labels dropped, values of one name summed) → value */
  values: Map<string, number>;
}

export function parsePrometheus(text: string): NodeSample {
  const values = new Map<string, number>();
  let node = '';
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    if (m[2] && !node) {
      const n = /node="([^"]*)"/.exec(m[2]);
      if (n) node = n[1]!;
    }
    values.set(m[1]!, (values.get(m[1]!) ?? 0) + v);
  }
  return { node, values };
}

function fetchText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent: false, headers: { connection: 'close' }, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(body)
            : reject(new TacoError('ENGINE_UNAVAILABLE', `${url}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('timeout', () =>
      req.destroy(new TacoError('DEADLINE_EXCEEDED', `${url}: no answer within ${timeoutMs} ms`)),
    );
    req.on('error', (e) =>
      reject(
        e instanceof TacoError ? e : new TacoError('ENGINE_UNAVAILABLE', `cannot reach ${url}: ${e.message}`),
      ),
    );
    req.end();
  });
}

export interface ServerFigures {
  /** Nodes seen (one per worker). */
  nodes: number;
  pushDelivered: number;
  pushAccepted: number;
  cpuSeconds: number;
  rssBytes: number;
  connections: number;
  signInRejected: number;
  signInOk: number;
}

/**
 * Scrapes until max(8, three times as many scrapes as nodes seen) bring no new node in a row (or
 * `maxScrapes`); newest sample per node, summed. Workers accept on a shared socket, so which one
 * answers is up to the kernel: a single node costs 9 scrapes, 7 workers ~30.
 */
export async function scrapeNodes(
  httpUrl: string,
  opts: { maxScrapes?: number; timeoutMs?: number } = {},
): Promise<ServerFigures> {
  const url = new URL('/metrics', httpUrl).toString();
  const seen = new Map<string, NodeSample>();
  const max = opts.maxScrapes ?? 64;
  let sinceNew = 0;
  // Three in a row missed the second of two workers one time in eight (a flaky workers test);
  // eight in a row miss it one time in 256.
  const patience = (n: number) => Math.max(8, 3 * n);
  for (let i = 0; i < max && (seen.size === 0 || sinceNew < patience(seen.size)); i++) {
    const s = parsePrometheus(await fetchText(url, opts.timeoutMs ?? 5_000));
    if (!seen.has(s.node)) sinceNew = 0;
    else sinceNew++;
    seen.set(s.node, s);
  }
  const sum = (name: string) => [...seen.values()].reduce((a, s) => a + (s.values.get(name) ?? 0), 0);
  return {
    nodes: seen.size,
    pushDelivered: sum('taco_push_delivered_total'),
    pushAccepted: sum('taco_push_accepted_total'),
    cpuSeconds: sum('process_cpu_seconds_total'),
    rssBytes: sum('process_resident_memory_bytes'),
    connections: sum('taco_gateway_connections'),
    signInRejected: sum('taco_signin_rejected_total'),
    signInOk: sum('taco_signin_ok_total'),
  };
}
