/**
 * Sign-in authentication and the app-secret cache.
 *
 * Incident "auth-cache-cancel": a cache refreshed every 5 min reused the
 * cancelled context of the request that first filled it, so after 5 min every
 * sign-in failed. Here a refresh runs under the cache's own lifetime
 * (`lifetime` signal), never a request's; `reuseRequestSignal` reproduces the
 * original mistake for the drill's failing variant only.
 */
import type { Scheduler } from './clock.js';
import { TacoError } from './errors.js';
import type { AppDirectory, AppInfo } from './ports.js';
import type { TokenClaims, TokenCodec } from './token.js';

export interface AuthCacheOptions {
  refreshMs: number;
  /** Reproduces the incident: the refresh reuses the first request's AbortSignal. Never enable in production. */
  reuseRequestSignal: boolean;
  lookupTimeoutMs: number;
}

interface Entry {
  app: AppInfo | undefined;
  loadedAt: number;
  loading: Promise<AppInfo | undefined> | undefined;
  firstSignal: RequestSignal | undefined;
}

/** A request's signal, or a getter that creates it on demand (sign-ins only pay for it on a cache miss). */
export type RequestSignal = AbortSignal | (() => AbortSignal);

const signalOf = (s: RequestSignal): AbortSignal => (typeof s === 'function' ? s() : s);

export class AuthCache {
  private readonly entries = new Map<string, Entry>();
  private readonly lifetime = new AbortController();
  failures = 0;
  /** Directory lookups started (first fills and refreshes). */
  loads = 0;

  constructor(
    private readonly directory: AppDirectory,
    private readonly clock: Scheduler,
    private readonly opts: AuthCacheOptions,
  ) {}

  async get(appId: string, requestSignal?: RequestSignal): Promise<AppInfo | undefined> {
    let e = this.entries.get(appId);
    const now = this.clock.now();
    if (!e) {
      e = { app: undefined, loadedAt: -Infinity, loading: undefined, firstSignal: requestSignal };
      this.entries.set(appId, e);
    }
    if (e.loadedAt + this.opts.refreshMs > now && !e.loading) return e.app;
    if (!e.loading) e.loading = this.load(appId, e);
    return e.loading;
  }

  /**
   * The app when its entry is loaded and fresh, without a promise; undefined when `get` would have to
   * load or refresh (the caller then takes `get`). Unknown apps also answer undefined here.
   */
  peek(appId: string): AppInfo | undefined {
    const e = this.entries.get(appId);
    if (!e || e.loading || e.loadedAt + this.opts.refreshMs <= this.clock.now()) return undefined;
    return e.app;
  }

  private async load(appId: string, e: Entry): Promise<AppInfo | undefined> {
    this.loads++;
    const signal =
      this.opts.reuseRequestSignal && e.firstSignal ? signalOf(e.firstSignal) : this.lifetime.signal;
    try {
      const app = await this.directory.lookup(appId, signal, this.opts.lookupTimeoutMs);
      e.app = app;
      e.loadedAt = this.clock.now();
      return app;
    } catch (err) {
      this.failures++;
      throw err instanceof TacoError
        ? err
        : new TacoError('ENGINE_UNAVAILABLE', `app directory lookup failed: ${(err as Error).message}`);
    } finally {
      e.loading = undefined;
    }
  }

  invalidate(appId: string): void {
    this.entries.delete(appId);
  }

  close(): void {
    this.lifetime.abort();
    this.entries.clear();
  }
}

export class Authenticator {
  constructor(
    private readonly codec: TokenCodec,
    private readonly cache: AuthCache,
    private readonly clock: Scheduler,
  ) {}

  /** Resolves the claims of a valid token or throws TOKEN_INVALID / TOKEN_EXPIRED / UNKNOWN_APP. */
  async authenticate(token: string, signal?: RequestSignal): Promise<TokenClaims> {
    const parsed = this.codec.parse(token);
    const { claims } = parsed;
    if (claims.exp * 1000 <= this.clock.now()) throw new TacoError('TOKEN_EXPIRED', 'token has expired');
    const app = await this.cache.get(claims.app, signal);
    if (!app) throw new TacoError('UNKNOWN_APP', `unknown app ${JSON.stringify(claims.app)}`);
    if (!parsed.verify(app.secret))
      throw new TacoError('TOKEN_INVALID', 'token signature does not match the app secret');
    return claims;
  }
}
