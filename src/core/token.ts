/**
 * Device tokens (SPEC §3): JWT HS256 signed with the app's secret, claims
 * `app`, `dev`, `sub?`, `loc?`, `exp`. Verification is synchronous HMAC so a
 * sign-in costs microseconds; the secret comes from the AuthCache.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { TacoError } from './errors.js';

export interface TokenClaims {
  app: string;
  dev: string;
  sub?: string;
  loc?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** A token split into what the core needs; how a token is encoded is the codec's business. */
export interface ParsedToken {
  claims: TokenClaims;
  verify(secret: string): boolean;
}

export interface TokenCodec {
  /** Throws TacoError TOKEN_INVALID when the token cannot be parsed. */
  parse(token: string): ParsedToken;
}

function b64urlJson(part: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new TacoError('TOKEN_INVALID', `token ${what} is not base64url JSON`);
  }
}

export function validateClaims(v: unknown): TokenClaims {
  if (typeof v !== 'object' || v === null)
    throw new TacoError('TOKEN_INVALID', 'token claims must be an object');
  const c = v as Record<string, unknown>;
  const need = (k: string) => {
    if (typeof c[k] !== 'string' || (c[k] as string).length === 0 || (c[k] as string).length > 256) {
      throw new TacoError('TOKEN_INVALID', `token claim "${k}" must be a non-empty string`);
    }
    return c[k] as string;
  };
  const claims: TokenClaims = { app: need('app'), dev: need('dev'), exp: 0 };
  if (typeof c.exp !== 'number' || !Number.isFinite(c.exp)) {
    throw new TacoError('TOKEN_INVALID', 'token claim "exp" must be a number (seconds since the epoch)');
  }
  claims.exp = c.exp;
  if (c.sub !== undefined) claims.sub = need('sub');
  if (c.loc !== undefined) claims.loc = need('loc');
  return claims;
}

export const jwtHs256Codec: TokenCodec = {
  parse(token: string): ParsedToken {
    const parts = token.split('.');
    if (parts.length !== 3)
      throw new TacoError('TOKEN_INVALID', 'token is not a JWT (expected three dot-separated parts)');
    const [h, p, sig] = parts as [string, string, string];
    const header = b64urlJson(h, 'header') as Record<string, unknown>;
    if (header?.alg !== 'HS256') throw new TacoError('TOKEN_INVALID', 'token must be signed with HS256');
    const claims = validateClaims(b64urlJson(p, 'payload'));
    return {
      claims,
      verify(secret: string) {
        const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
        const given = Buffer.from(sig, 'base64url');
        return given.length === expected.length && timingSafeEqual(given, expected);
      },
    };
  },
};

/** Signs a token (used by `taco token`, tests and load tools). */
export function signToken(claims: TokenClaims, secret: string): string {
  const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${sig}`;
}
