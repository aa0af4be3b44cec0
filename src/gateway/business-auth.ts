/** Business API auth (SPEC §4): `Basic base64(appId:secret)`, checked against the app directory through the auth cache. */
import { timingSafeEqual } from 'node:crypto';
import type { AuthCache } from '../core/auth.js';
import { TacoError } from '../core/errors.js';

export async function authenticateBusiness(header: string | undefined, cache: AuthCache): Promise<string> {
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
  return appId;
}
