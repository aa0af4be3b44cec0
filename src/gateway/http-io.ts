/**
 * HTTP plumbing shared by the business API (main thread) and its front thread:
 * bounded JSON bodies and the one error shape `{"error":{"code","message"}}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asTacoError, TacoError } from '../core/errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  // Headers as a flat list: Node writes them as they are, without building and checking a header map.
  res.writeHead(status, [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(text)),
  ]);
  res.end(text);
}

/** An answer as plain data: what the main thread hands the front thread to write. */
export interface Reply {
  status: number;
  text: string;
  /** 429 and 503 answers ask the caller to come back in a second. */
  retryAfter: boolean;
}

export function errorReply(e: unknown): Reply {
  const err = asTacoError(e);
  return {
    status: err.httpStatus,
    text: JSON.stringify({ error: { code: err.wireCode, message: err.message } }),
    retryAfter: err.httpStatus === 503 || err.httpStatus === 429,
  };
}

/** Writes a JSON reply; one whose connection is gone is dropped. */
export function writeReply(res: ServerResponse, r: Reply): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    // A stream that already started (SSE) cannot carry an error answer: end it.
    res.destroy();
    return;
  }
  const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(r.text))];
  if (r.retryAfter) headers.push('retry-after', '1');
  res.writeHead(r.status, headers);
  res.end(r.text);
}

export function sendError(res: ServerResponse, e: unknown): void {
  writeReply(res, errorReply(e));
}

/**
 * Reads a JSON body of at most MAX_BODY_BYTES. Chunks are collected with 'data' listeners (an async
 * iterator per request showed in the profile at 5,000 pushes/s); a body over the limit is refused
 * as soon as it is seen, and the rest of it is not buffered.
 */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return readJsonText(req).then((r) => r.value);
}

/** readJson, also answering the length of the text (parseSendRequest uses it to skip a size check). */
export function readJsonText(req: IncomingMessage): Promise<{ value: unknown; chars: number }> {
  const type = req.headers['content-type'] ?? '';
  if (!type.includes('application/json')) {
    return Promise.reject(new TacoError('INVALID_ARGUMENT', 'Content-Type must be application/json'));
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES)
    return Promise.reject(new TacoError('BODY_TOO_LARGE', `body larger than ${MAX_BODY_BYTES} bytes`));
  return new Promise((resolve, reject) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        reject(new TacoError('BODY_TOO_LARGE', `body larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const body = more ? Buffer.concat(more) : first;
      try {
        const text = body === undefined ? '' : body.toString('utf8');
        resolve({ value: JSON.parse(text), chars: text.length });
      } catch {
        reject(new TacoError('INVALID_ARGUMENT', 'body is not valid JSON'));
      }
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new TacoError('INVALID_ARGUMENT', `request body: ${e.message}`));
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new TacoError('CANCELLED', 'client went away before the body was complete'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
