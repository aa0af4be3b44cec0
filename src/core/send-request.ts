/**
 * The business API's Send request (SPEC §4), validated once for HTTP and gRPC.
 * Errors name the field that was wrong.
 */
import { z } from 'zod';
import { TacoError } from './errors.js';

const id = z.string().min(1).max(256);

export const SendRequestSchema = z
  .object({
    to: z.union([
      z.object({ devices: z.array(id).min(1).max(1000) }).strict(),
      z.object({ users: z.array(id).min(1).max(1000) }).strict(),
      z.object({ all: z.literal(true) }).strict(),
    ]),
    kind: z.enum(['notification', 'passthrough']),
    title: z.string().max(256).optional(),
    body: z.string().max(4096).optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    priority: z.enum(['high', 'normal', 'low']).default('normal'),
    ttl: z.number().int().positive().optional(),
    idempotencyKey: z.string().min(1).max(128).optional(),
  })
  .strict();

export type SendRequest = z.output<typeof SendRequestSchema>;

export const MAX_DATA_BYTES = 4096;

const FIELDS = new Set(['to', 'kind', 'title', 'body', 'data', 'priority', 'ttl', 'idempotencyKey']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const isId = (v: unknown) => typeof v === 'string' && v.length >= 1 && v.length <= 256;
const isOptString = (o: Record<string, unknown>, k: string, max: number) =>
  !(k in o) || (typeof o[k] === 'string' && (o[k] as string).length <= max);

/**
 * The common request (`to.devices`, plain JSON, every field valid) checked by hand: the schema's
 * safeParse was ~3.5 % of the node at 5,000 pushes/s. Returns exactly what the schema would (a
 * fresh object, `priority` defaulted), or undefined for anything it is not sure of — which then
 * goes through the schema, for its verdict and its error message.
 */
function quickParse(b: unknown): SendRequest | undefined {
  if (!isPlainObject(b)) return undefined;
  for (const k in b) if (!FIELDS.has(k) || b[k] === undefined) return undefined;
  const to = b.to;
  if (!isPlainObject(to)) return undefined;
  for (const k in to) if (k !== 'devices') return undefined;
  const devices = to.devices;
  if (!Array.isArray(devices) || devices.length < 1 || devices.length > 1000) return undefined;
  for (let i = 0; i < devices.length; i++) if (!isId(devices[i])) return undefined;
  const kind = b.kind;
  if (kind !== 'notification' && kind !== 'passthrough') return undefined;
  if (!isOptString(b, 'title', 256) || !isOptString(b, 'body', 4096)) return undefined;
  const priority = b.priority ?? 'normal';
  if (priority !== 'high' && priority !== 'normal' && priority !== 'low') return undefined;
  const ttl = b.ttl;
  if (ttl !== undefined && !(typeof ttl === 'number' && Number.isSafeInteger(ttl) && ttl > 0))
    return undefined;
  const key = b.idempotencyKey;
  if (key !== undefined && !(typeof key === 'string' && key.length >= 1 && key.length <= 128))
    return undefined;
  let data: Record<string, unknown> | undefined;
  if (b.data !== undefined) {
    const src = b.data;
    if (!isPlainObject(src)) return undefined;
    data = {};
    for (const k in src) {
      if (k === '__proto__') return undefined;
      data[k] = src[k];
    }
  }
  const out: SendRequest = { to: { devices: devices.slice() as string[] }, kind, priority };
  if (b.title !== undefined) out.title = b.title as string;
  if (b.body !== undefined) out.body = b.body as string;
  if (data !== undefined) out.data = data;
  if (ttl !== undefined) out.ttl = ttl;
  if (key !== undefined) out.idempotencyKey = key;
  return out;
}

/**
 * `sourceChars`: the length of the JSON text the body was parsed from, when known. Re-serialised,
 * JSON grows only through numbers (`1e20` → 21 digits, 5.25×; strings, keys and structure never
 * grow), so a text of at most MAX_DATA_BYTES / 6 characters cannot hold `data` over the limit and
 * the serialisation that measures it is skipped.
 */
export function parseSendRequest(body: unknown, sourceChars?: number): SendRequest {
  const quick = quickParse(body);
  if (quick === undefined) return parseSendRequestBySchema(body);
  return sourceChars !== undefined && sourceChars * 6 <= MAX_DATA_BYTES ? quick : checkDataSize(quick);
}

function checkDataSize(req: SendRequest): SendRequest {
  if (req.data !== undefined && JSON.stringify(req.data).length > MAX_DATA_BYTES) {
    throw new TacoError('INVALID_ARGUMENT', `data: larger than ${MAX_DATA_BYTES} bytes`, { field: 'data' });
  }
  return req;
}

/** The schema alone, without the hand-written check (tests hold the two to the same answers). */
export function parseSendRequestBySchema(body: unknown): SendRequest {
  const r = SendRequestSchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.length ? issue.path.join('.') : '(body)';
    throw new TacoError('INVALID_ARGUMENT', `${path}: ${issue.message}`, { field: path });
  }
  return checkDataSize(r.data);
}
