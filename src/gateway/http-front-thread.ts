/**
 * The HTTP front thread (see http-front.ts): owns the public HTTP port, reads and validates
 * `POST /v1/push` bodies and posts them to the main thread in batches, writes the answers it
 * gets back, and proxies every other route to the inline API on its internal loopback port.
 */
import {
  Agent,
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { asTacoError, TacoError } from '../core/errors.js';
import { parseSendRequest, type SendRequest } from '../core/send-request.js';
import type { ForwardedPush, FrontThreadData, FrontToMain, MainToFront } from './http-front.js';
import { errorReply, readJsonText, sendError, writeReply } from './http-io.js';

const d = workerData as FrontThreadData;
const port = parentPort;
if (!port) throw new Error('http-front-thread runs as a worker thread');

function post(m: FrontToMain): void {
  port?.postMessage(m);
}

/** Forwarded pushes waiting for their answer, by request id, with when they were sent. */
const waiting = new Map<number, { res: ServerResponse; at: number }>();
let nextId = 1;
let outbox: ForwardedPush[] = [];
let flushScheduled = false;

function forward(p: ForwardedPush, res: ServerResponse): void {
  waiting.set(p[0], { res, at: Date.now() });
  outbox.push(p);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function flush(): void {
  flushScheduled = false;
  const list = outbox;
  outbox = [];
  if (list.length) post({ type: 'pushes', list });
}

/** Body read and validated here; authentication and the verdict's order stay on the main thread. */
async function push(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = nextId++;
  let body: SendRequest | undefined;
  let error: ForwardedPush[3];
  try {
    const { value, chars } = await readJsonText(req);
    body = parseSendRequest(value, chars);
  } catch (e) {
    const err = asTacoError(e);
    // The caller went away before its body was complete: there is no one to answer.
    if (err.code === 'CANCELLED') return;
    error = [err.code, err.message];
  }
  forward([id, req.headers.authorization, body, error], res);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** Every route but the hot one goes to the inline API as it came, and its answer back as it goes. */
function proxy(req: IncomingMessage, res: ServerResponse): void {
  const headers: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
  const stream = (req.url ?? '').startsWith('/v1/upstream');
  const up = request(
    {
      host: '127.0.0.1',
      port: d.internalPort,
      method: req.method,
      path: req.url,
      headers,
      agent,
      // The SSE stream lives as long as its subscriber; every other call has a deadline.
      timeout: stream ? 0 : 30_000,
    },
    (answer) => {
      const raw = answer.rawHeaders;
      const out: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
      }
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
    },
  );
  up.on('timeout', () =>
    up.destroy(new TacoError('DEADLINE_EXCEEDED', 'the API did not answer within 30 s')),
  );
  up.on('error', (e) => sendError(res, e));
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
}

const server = createServer((req, res) => {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  if (req.method === 'POST' && path === '/v1/push') {
    push(req, res).catch((e) => sendError(res, e));
  } else proxy(req, res);
});
server.requestTimeout = 30_000;
server.headersTimeout = 10_000;

/** Answers that never came (a stuck main thread) are answered here rather than left hanging. */
const sweep = setInterval(() => {
  const limit = Date.now() - d.answerTimeoutMs;
  for (const [id, w] of waiting) {
    if (w.at > limit) break; // insertion order is send order
    waiting.delete(id);
    writeReply(
      w.res,
      errorReply(
        new TacoError('DEADLINE_EXCEEDED', `no answer from the node within ${d.answerTimeoutMs} ms`),
      ),
    );
  }
}, 1000);

port.on('message', (m: MainToFront) => {
  if (m.type === 'answers') {
    for (const [id, reply] of m.list) {
      const w = waiting.get(id);
      if (!w) continue;
      waiting.delete(id);
      writeReply(w.res, reply);
    }
  } else if (m.type === 'close') {
    clearInterval(sweep);
    server.close(() => {
      agent.destroy();
      post({ type: 'closed' });
    });
    server.closeAllConnections();
  }
});

server.once('error', (e: NodeJS.ErrnoException) =>
  post({ type: 'listen-error', message: `cannot listen on ${d.host}:${d.port}: ${e.code ?? e.message}` }),
);
server.listen({ host: d.host, port: d.port, backlog: d.backlog }, () => {
  const a = server.address();
  post({ type: 'listening', port: typeof a === 'object' && a ? a.port : d.port });
});
