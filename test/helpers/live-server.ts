/** Starts a real `taco serve` stack in-process on port 0 and gives tests raw protocol clients. */
import { WebSocket } from 'ws';
import type { CoreConfigInput } from '../../src/core/config.js';
import type { ServerFrame } from '../../src/core/protocol.js';
import { signToken } from '../../src/core/token.js';
import { resolveServeConfig } from '../../src/server/config-file.js';
import { type RunningServer, startServer } from '../../src/server/server.js';

export const APP = { id: 'shop', secret: 'shop-secret-123' };
export const OTHER_APP = { id: 'news', secret: 'news-secret-456' };

export interface LiveServer {
  server: RunningServer;
  wsUrl: string;
  httpUrl: string;
  grpcAddress: string;
  stop(): Promise<void>;
}

/** The HTTP API's two modes: in the main event loop, or behind the front thread (http-front.ts). */
export const HTTP_FRONTS = ['inline', 'thread'] as const;

export async function startLive(
  core: CoreConfigInput = {},
  opts: { httpFront?: (typeof HTTP_FRONTS)[number] } = {},
): Promise<LiveServer> {
  const config = resolveServeConfig({
    apps: [APP, OTHER_APP],
    ports: { ws: 0, http: 0, grpc: 0 },
    httpFront: opts.httpFront ?? 'inline',
    core,
  });
  const server = await startServer({ config });
  return {
    server,
    wsUrl: `ws://127.0.0.1:${server.ready.ws}/v1/connect`,
    httpUrl: `http://127.0.0.1:${server.ready.http}`,
    grpcAddress: `127.0.0.1:${server.ready.grpc}`,
    stop: () => server.stop(),
  };
}

export function tokenFor(
  device: string,
  opts: { app?: typeof APP; user?: string; expSec?: number } = {},
): string {
  const app = opts.app ?? APP;
  return signToken(
    {
      app: app.id,
      dev: device,
      ...(opts.user ? { sub: opts.user } : {}),
      exp: opts.expSec ?? Math.floor(Date.now() / 1000) + 3600,
    },
    app.secret,
  );
}

/** A raw protocol client: records frames, lets tests wait for a frame or the close. */
export class RawClient {
  readonly frames: ServerFrame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: { pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }[] = [];
  private closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as ServerFrame;
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = String(reason);
        resolve(code);
      }),
    );
  }

  static async open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url, 'taco.v1');
    const c = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  static async signIn(url: string, token: string, extra: Record<string, unknown> = {}): Promise<RawClient> {
    const c = await RawClient.open(url);
    c.send({ op: 'hello', token, platform: 'android', appState: 'foreground', ...extra });
    await c.next((f) => f.op === 'welcome', 5000);
    return c;
  }

  send(v: unknown): void {
    this.ws.send(typeof v === 'string' ? v : JSON.stringify(v));
  }

  next(pred: (f: ServerFrame) => boolean, timeoutMs = 5000): Promise<ServerFrame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(t);
          resolve(f);
        },
      });
    });
  }

  waitClose(timeoutMs = 5000): Promise<number> {
    return Promise.race([
      this.closed,
      new Promise<number>((_, reject) =>
        setTimeout(() => reject(new Error('not closed in time')), timeoutMs).unref(),
      ),
    ]);
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function api(base: string, method: string, path: string, body?: unknown, app = APP) {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${app.id}:${app.secret}`).toString('base64')}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
