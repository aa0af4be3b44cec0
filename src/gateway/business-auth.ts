/** Business API auth (SPEC §4): `Basic base64(appId:secret)`, checked against the app directory through the auth cache. */
import { timingSafeEqual } from 'node:crypto';
import type { AuthCache } from '../core/auth.js';
import { TacoError } from '../core/errors.js';
import type { AppInfo } from '../core/ports.js';

/**
 * Headers already checked, with the app record they were checked against. A backend sends the same
 * header on every request, so the hot path is one Map lookup instead of a base64 decode, two Buffers
 * and a constant-time compare. An entry counts only while the cache still holds that same record
 * (a refresh that changes the secret yields a new record, and the header is checked again); wrong
 * headers are never remembered. Bounded: when full it is cleared, not grown.
 */
const verifiedByCache = new WeakMap<AuthCache, Map<string, Verified>>();
const MAX_VERIFIED = 1024;

interface Verified {
  appId: string;
  app: AppInfo;
  /** The secret the header matched (a directory that edits its record in place changes this). */
  secret: string;
}

/** The app id of a valid header, or undefined when this needs the async path (first sight, cache refresh). */
function fromMemo(header: string | undefined, cache: AuthCache): string | undefined {
  if (header === undefined) return undefined;
  const verified = verifiedByCache.get(cache);
  const hit = verified?.get(header);
  if (hit === undefined) return undefined;
  if (cache.peek(hit.appId) === hit.app && hit.app.secret === hit.secret) return hit.appId;
  verified!.delete(header);
  return undefined;
}

export function authenticateBusiness(header: string | undefined, cache: AuthCache): Promise<string> {
  const appId = fromMemo(header, cache);
  return appId !== undefined ? Promise.resolve(appId) : authenticateSlow(header, cache);
}

/** Same as authenticateBusiness, but answers synchronously when it can (undefined: take the async one). */
export function authenticateBusinessNow(header: string | undefined, cache: AuthCache): string | undefined {
  return fromMemo(header, cache);
}

async function authenticateSlow(header: string | undefined, cache: AuthCache): Promise<string> {
  if (!header?.startsWith('Basic ')) {
    throw new TacoError('UNAUTHENTICATED', 'missing Authorization: Basic base64(appId:secret)');
  }
  let decoded: string;
  try {
    decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  } catch {
    throw new TacoError('UNAUTHENTICATED', 'Authorization header is not valid base64');
  }
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new TacoError('UNAUTHENTICATED', 'Authorization must be base64(appId:secret)');
  const appId = decoded.slice(0, colon);
  const secret = Buffer.from(decoded.slice(colon + 1));
  const app = await cache.get(appId);
  const expected = Buffer.from(app?.secret ?? '');
  if (!app || expected.length !== secret.length || !timingSafeEqual(expected, secret)) {
    throw new TacoError('UNAUTHENTICATED', 'unknown app or wrong secret');
  }
  let verified = verifiedByCache.get(cache);
  if (!verified) verifiedByCache.set(cache, (verified = new Map()));
  if (verified.size >= MAX_VERIFIED) verified.clear();
  verified.set(header, { appId, app, secret: app.secret });
  return appId;
}
