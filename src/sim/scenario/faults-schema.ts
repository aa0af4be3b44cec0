/**
 * Faults are plain data on a timeline: `{at, kind, for?, name?, ...params}`.
 * `at` is the time since the start of the run; `for` is how long until the
 * fault heals (omitted: it does not heal within the run; required where a
 * permanent fault makes no sense); `name` lets an SLO anchor to one fault
 * (`within 3m after sh-cut`) when a kind occurs more than once.
 * Checks that need the rest of the scenario (ezone exists, shard in range)
 * are in cross-checks.ts.
 */
import { z } from 'zod';
import { durationMs, positiveDurationMs } from './duration-schema.js';

export const FAULT_KINDS = [
  'network-cut',
  'dns-failover',
  'mq-backlog',
  'close-wait-leak',
  'grpc-stream-quota',
  'gateway-crash',
  'engine-outage',
  'auth-cache-cancel',
  'shard-switch',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const ENGINE_NAMES = ['route-store', 'message-store', 'queue'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, { message: 'expected a name of lower-case letters, digits, . _ -' });

/** Fields every fault has. */
const common = {
  at: durationMs,
  name: name.optional(),
};
const healsAfter = { for: positiveDurationMs.optional() };
const mustHeal = { for: positiveDurationMs };

const ezone = z.string().min(1);

/** `"0-14"`, `"3"`, `"0-4,9,20-21"`, a number, or a list of numbers → sorted unique shard numbers. */
export const shardSet = z.unknown().transform((v, ctx) => {
  const shards = parseShardSet(v);
  if (!shards) {
    ctx.addIssue({
      code: 'custom',
      message: `expected shards like "0-14" or "0-4,9" (got ${JSON.stringify(v)})`,
    });
    return z.NEVER;
  }
  return shards;
});

export function parseShardSet(v: unknown): number[] | null {
  const out = new Set<number>();
  const items: unknown[] = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [v];
  if (items.length === 0) return null;
  for (const item of items) {
    if (typeof item === 'number' && Number.isInteger(item) && item >= 0) {
      out.add(item);
      continue;
    }
    if (typeof item !== 'string') return null;
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(item);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return null;
    for (let s = lo; s <= hi; s++) out.add(s);
  }
  return [...out].sort((a, b) => a - b);
}

const networkCut = z
  .object({ kind: z.literal('network-cut'), ...common, ...mustHeal, ezone })
  .strict()
  .transform((f) => ({ kind: f.kind, atMs: f.at, name: f.name, forMs: f.for, ezone: f.ezone }));

const dnsFailover = z
  .object({ kind: z.literal('dns-failover'), ...common, ...healsAfter, region: ezone, to: ezone })
  .strict()
  .transform((f) => ({ kind: f.kind, atMs: f.at, name: f.name, forMs: f.for, region: f.region, to: f.to }));

const mqBacklog = z
  .object({
    kind: z.literal('mq-backlog'),
    ...common,
    ...mustHeal,
    ezone: ezone.optional(),
    /** Consumers run this many times slower during the fault. */
    slowdown: z.number().min(1).default(10),
  })
  .strict()
  .transform((f) => ({
    kind: f.kind,
    atMs: f.at,
    name: f.name,
    forMs: f.for,
    ezone: f.ezone,
    slowdown: f.slowdown,
  }));

const closeWaitLeak = z
  .object({
    kind: z.literal('close-wait-leak'),
    ...common,
    ...healsAfter,
    /** Share of the connections that close in this period and leave a half-open socket behind. */
    fraction: z.number().gt(0).max(1),
  })
  .strict()
  .transform((f) => ({ kind: f.kind, atMs: f.at, name: f.name, forMs: f.for, fraction: f.fraction }));

const grpcStreamQuota = z
  .object({
    kind: z.literal('grpc-stream-quota'),
    ...common,
    ...mustHeal,
    /** Peers answer this many times slower… */
    slowdown: z.number().min(1).optional(),
    /** …or with this much extra latency per call (exactly one of the two). */
    latency: positiveDurationMs.optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if ((f.slowdown === undefined) === (f.latency === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of slowdown or latency', path: [] });
    }
  })
  .transform((f) => ({
    kind: f.kind,
    atMs: f.at,
    name: f.name,
    forMs: f.for,
    slowdown: f.slowdown,
    latencyMs: f.latency,
  }));

const gatewayCrash = z
  .object({
    kind: z.literal('gateway-crash'),
    ...common,
    /** How long until the process is back (omitted: it stays down). */
    ...healsAfter,
    ezone,
    /** Index of the gateway in its ezone, from 0. */
    gateway: z.number().int().min(0),
  })
  .strict()
  .transform((f) => ({
    kind: f.kind,
    atMs: f.at,
    name: f.name,
    forMs: f.for,
    ezone: f.ezone,
    gateway: f.gateway,
  }));

const engineOutage = z
  .object({ kind: z.literal('engine-outage'), ...common, ...mustHeal, engine: z.enum(ENGINE_NAMES) })
  .strict()
  .transform((f) => ({ kind: f.kind, atMs: f.at, name: f.name, forMs: f.for, engine: f.engine }));

const authCacheCancel = z
  .object({ kind: z.literal('auth-cache-cancel'), ...common, ...healsAfter })
  .strict()
  .transform((f) => ({ kind: f.kind, atMs: f.at, name: f.name, forMs: f.for }));

const shardSwitch = z
  .object({ kind: z.literal('shard-switch'), ...common, ...healsAfter, shards: shardSet, to: ezone })
  .strict()
  .transform((f) => ({ kind: f.kind, atMs: f.at, name: f.name, forMs: f.for, shards: f.shards, to: f.to }));

export const FaultSchema = z.discriminatedUnion('kind', [
  networkCut,
  dnsFailover,
  mqBacklog,
  closeWaitLeak,
  grpcStreamQuota,
  gatewayCrash,
  engineOutage,
  authCacheCancel,
  shardSwitch,
]);

/** A fault with times in ms; `forMs` undefined means it does not heal within the run. */
export type Fault = z.output<typeof FaultSchema>;
export type FaultOf<K extends FaultKind> = Extract<Fault, { kind: K }>;
