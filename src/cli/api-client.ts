/** A small HTTP client for the business API, used by commands and load tools. Every call has a deadline. */
import { TacoError } from '../core/errors.js';

export interface ApiClientOptions {
  url: string;
  app: string;
  secret: string;
  timeoutMs: number;
}

export class ApiClient {
  private readonly auth: string;
  constructor(private readonly o: ApiClientOptions) {
    this.auth = `Basic ${Buffer.from(`${o.app}:${o.secret}`).toString('base64')}`;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.o.url), {
        method,
        headers: {
          authorization: this.auth,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'TimeoutError')
        throw new TacoError(
          'DEADLINE_EXCEEDED',
          `${method} ${path}: no answer within ${this.o.timeoutMs} ms`,
        );
      throw new TacoError('ENGINE_UNAVAILABLE', `cannot reach ${this.o.url}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new TacoError('INTERNAL', `${method} ${path}: answer is not JSON (HTTP ${res.status})`);
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } })?.error;
      const code =
        res.status === 401
          ? 'UNAUTHENTICATED'
          : res.status === 404
            ? 'NOT_FOUND'
            : res.status >= 500
              ? 'ENGINE_UNAVAILABLE'
              : 'INVALID_ARGUMENT';
      throw new TacoError(code, `HTTP ${res.status} ${err?.code ?? ''}: ${err?.message ?? text}`);
    }
    return json as T;
  }
}
