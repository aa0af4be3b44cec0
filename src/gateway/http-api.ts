/**
 * Business API over HTTP/JSON (SPEC §4) plus health, readiness and metrics.
 * Every error is `{"error":{"code","message"}}` with the status derived from
 * the TacoError code; a bad request affects only itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { asTacoError, TacoError } from '../core/errors.js';
import { decodeMsgId } from '../core/msgid.js';
import { type TacoNode, upstreamQueueOf } from '../core/node.js';
import type { MessageStore, Queue, UpstreamMessage } from '../core/ports.js';
import { PLATFORMS } from '../core/protocol.js';
import { parseSendRequest, type SendRequest } from '../core/send-request.js';
import { authenticateBusiness, authenticateBusinessNow } from './business-auth.js';
import { readJson, readJsonText, sendError, sendJson } from './http-io.js';

export { MAX_BODY_BYTES } from './http-io.js';

export interface HttpApiDeps {
  node: TacoNode;
  messages: MessageStore;
  queue: Queue;
  registry: Registry;
  isReady: () => boolean;
  /** Extra routes (dispatch, admin) mounted by later modules; return true when handled. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
}

/**
 * The 202 answers of one event-loop turn, written together at its end (one setImmediate). Each
 * answer is still one write on its own connection, but written back to back the load driver is
 * woken once for all of them: at 5,000 pushes/s the answers' writes, one by one, were ~12% of the
 * node's CPU profile (ws frames are batched the same way, ws-gateway.ts WriteBatch).
 */
class ReplyBatch {
  private pending: { res: ServerResponse; text: string }[] = [];
  private immediate: NodeJS.Immediate | undefined;

  add(res: ServerResponse, body: unknown): void {
    this.pending.push({ res, text: JSON.stringify(body) });
    this.immediate ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    const list = this.pending;
    this.pending = [];
    for (const { res, text } of list) {
      if (res.destroyed || res.writableEnded) continue;
      res.writeHead(202, [
        'content-type',
        'application/json',
        'content-length',
        String(Buffer.byteLength(text)),
      ]);
      res.end(text);
    }
  }
}

export class HttpApi {
  readonly server: Server;
  private readonly replies = new ReplyBatch();

  constructor(private readonly d: HttpApiDeps) {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((e) => sendError(res, e));
    });
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    // Answers still waiting for the end of the turn go out before the server closes.
    this.server.on('close', () => this.replies.flush());
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    // The common routes need only the path; a URL object is built for the routes that read the query.
    const path = q < 0 ? raw : raw.slice(0, q);
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/v1/push') return this.push(req, res);
    if (method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (method === 'GET' && path === '/readyz') {
      return this.d.isReady()
        ? sendJson(res, 200, { status: 'ready' })
        : sendJson(res, 503, { error: { code: 'TACO_ERR_NOT_READY', message: 'starting or draining' } });
    }
    if (method === 'GET' && path === '/metrics') {
      const text = await this.d.registry.metrics();
      res.writeHead(200, { 'content-type': this.d.registry.contentType });
      res.end(text);
      return;
    }
    if (this.d.extraRoutes && (await this.d.extraRoutes(req, res, new URL(raw, 'http://local')))) return;
    if (!path.startsWith('/v1/')) throw new TacoError('NOT_FOUND', `no route ${method} ${path}`);
    const app = await authenticateBusiness(req.headers.authorization, this.d.node.authCache);
    const msg = /^\/v1\/messages\/([^/]+)$/.exec(path);
    if (method === 'GET' && msg) return sendJson(res, 200, await getStatus(this.d.messages, app, msg[1]!));
    const cfg = /^\/v1\/config\/([^/]+)$/.exec(path);
    if (method === 'PUT' && cfg) {
      const platform = cfg[1]!;
      if (!(PLATFORMS as readonly string[]).includes(platform)) {
        throw new TacoError('INVALID_ARGUMENT', `platform must be one of ${PLATFORMS.join(', ')}`);
      }
      const body = (await readJson(req)) as { data?: unknown };
      if (
        typeof body !== 'object' ||
        body === null ||
        typeof body.data !== 'object' ||
        body.data === null ||
        Array.isArray(body.data)
      ) {
        throw new TacoError('INVALID_ARGUMENT', 'data: must be a JSON object');
      }
      const version = await this.d.messages.setConfig(app, platform, body.data as Record<string, unknown>);
      return sendJson(res, 200, { version });
    }
    if (method === 'GET' && path === '/v1/upstream') return this.upstream(app, req, res);
    throw new TacoError('NOT_FOUND', `no route ${method} ${path}`);
  }

  /** `POST /v1/push`, the hot path: auth, body, validation, send; one promise chain. */
  private async push(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers.authorization;
    const app = this.authenticate(header) ?? (await authenticateBusiness(header, this.d.node.authCache));
    const { value, chars } = await readJsonText(req);
    const body = parseSendRequest(value, chars);
    const ids = await this.d.node.dispatcher.send(app, body);
    this.replies.add(res, { ids });
  }

  private authenticate(header: string | undefined): string | undefined {
    return authenticateBusinessNow(header, this.d.node.authCache);
  }

  /**
   * `POST /v1/push` whose body the front thread read and validated (http-front.ts): the same
   * order of verdicts as push() above, so a bad header is refused before a bad body is named.
   */
  async sendParsed(header: string | undefined, body: SendRequest | TacoError): Promise<string[]> {
    const app = this.authenticate(header) ?? (await authenticateBusiness(header, this.d.node.authCache));
    if (body instanceof TacoError) throw body;
    return this.d.node.dispatcher.send(app, body);
  }

  /** Server-sent events: upstream messages of the app, at least once (acked after the write). */
  private async upstream(app: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': connected\n\n');
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
    const consumer = await this.d.queue.consume<UpstreamMessage>(
      upstreamQueueOf(app),
      async ({ body }) => {
        if (res.destroyed) throw new TacoError('CANCELLED', 'subscriber gone');
        await new Promise<void>((resolve, reject) =>
          res.write(`id: ${body.id}\nevent: upstream\ndata: ${JSON.stringify(body)}\n\n`, (e) =>
            e ? reject(e) : resolve(),
          ),
        );
      },
      { concurrency: 1 },
    );
    req.on('close', () => {
      clearInterval(keepalive);
      void consumer.cancel();
    });
  }
}

export async function getStatus(messages: MessageStore, app: string, id: string) {
  try {
    decodeMsgId(id);
  } catch (e) {
    throw new TacoError('INVALID_ARGUMENT', asTacoError(e).message);
  }
  const rec = await messages.get(id);
  if (!rec || rec.app !== app) throw new TacoError('NOT_FOUND', `no message ${id}`);
  return { id: rec.id, status: rec.status, channel: rec.channel, history: rec.history };
}
