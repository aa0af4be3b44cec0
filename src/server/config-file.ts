/**
 * `taco serve` settings: taco.yaml (optional) < environment < flags.
 * Validation errors name the file, the line and the field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { CoreConfigSchema } from '../core/config.js';
import { TacoError } from '../core/errors.js';

export const ServeConfigSchema = z
  .object({
    node: z.number().int().min(0).max(255).default(0),
    ezone: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/)
      .default('local'),
    host: z.string().default('127.0.0.1'),
    ports: z
      .object({
        ws: z.number().int().min(0).max(65535).default(8081),
        http: z.number().int().min(0).max(65535).default(8080),
        grpc: z.number().int().min(0).max(65535).default(8082),
      })
      .strict()
      .prefault({}),
    /** `thread`: the HTTP API's parsing in a worker thread of its own (src/gateway/http-front.ts). */
    httpFront: z.enum(['inline', 'thread']).default('inline'),
    apps: z
      .array(z.object({ id: z.string().min(1).max(64), secret: z.string().min(8) }).strict())
      .default([]),
    engines: z
      .object({
        redis: z.string().optional(),
        mysql: z.string().optional(),
        amqp: z.string().optional(),
      })
      .strict()
      .prefault({}),
    core: CoreConfigSchema.prefault({}),
  })
  .strict();

export type ServeConfig = z.output<typeof ServeConfigSchema>;

/** Reads and validates a YAML config file; a missing default file is fine, a missing named one is not. */
export function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  if (!existsSync(file)) throw new TacoError('BAD_INPUT', `${file}: no such config file`);
  const text = readFileSync(file, 'utf8');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw new TacoError('BAD_INPUT', `${file}:${pos.line}: ${e.message.split('\n')[0]}`);
  }
  const value = doc.toJS() ?? {};
  const r = ServeConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const node = doc.getIn(issue.path as (string | number)[], true) as
      | { range?: [number, number] }
      | undefined;
    const parentNode = issue.path.length
      ? doc.getIn(issue.path.slice(0, -1) as (string | number)[], true)
      : doc.contents;
    const offset = node?.range?.[0] ?? (isMap(parentNode) ? (parentNode.range?.[0] ?? 0) : 0);
    const line = lc.linePos(offset).line;
    throw new TacoError(
      'BAD_INPUT',
      `${file}:${line}: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
  }
  return value as Record<string, unknown>;
}

/** Merges layers (later wins) and validates the result. */
export function resolveServeConfig(...layers: Record<string, unknown>[]): ServeConfig {
  const merged = layers.reduce((acc, l) => deepMerge(acc, l), {} as Record<string, unknown>);
  const r = ServeConfigSchema.safeParse(merged);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new TacoError('BAD_INPUT', `${issue.path.join('.') || '(config)'}: ${issue.message}`);
  }
  return r.data;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] =
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      typeof cur === 'object' &&
      cur !== null &&
      !Array.isArray(cur)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Parses `--app ID=SECRET`. */
export function parseAppFlag(s: string): { id: string; secret: string } {
  const eq = s.indexOf('=');
  if (eq <= 0 || eq === s.length - 1) throw new TacoError('BAD_INPUT', `--app ${s}: expected ID=SECRET`);
  const secret = s.slice(eq + 1);
  if (secret.length < 8)
    throw new TacoError('BAD_INPUT', `--app ${s.slice(0, eq)}=…: the secret must have at least 8 characters`);
  return { id: s.slice(0, eq), secret };
}

/** `--http-front auto`: a front thread pays off with a second core, and only in a single process. */
export function autoHttpFront(workers: number, cores = availableParallelism()): 'inline' | 'thread' {
  return workers === 1 && cores >= 2 ? 'thread' : 'inline';
}
