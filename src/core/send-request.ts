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

export function parseSendRequest(body: unknown): SendRequest {
  const r = SendRequestSchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.length ? issue.path.join('.') : '(body)';
    throw new TacoError('INVALID_ARGUMENT', `${path}: ${issue.message}`, { field: path });
  }
  if (r.data.data !== undefined && JSON.stringify(r.data.data).length > MAX_DATA_BYTES) {
    throw new TacoError('INVALID_ARGUMENT', `data: larger than ${MAX_DATA_BYTES} bytes`, { field: 'data' });
  }
  return r.data;
}
