/**
 * The shape of a scenario file (shared/SPEC.md §6) and its normalised form:
 * durations in ms, names in camelCase, defaults filled in. Strict: an unknown
 * key is an error, never ignored. Checks across sections (a fault names an
 * existing ezone, a variant's `slo` is in the list, …) are in cross-checks.ts.
 */
import { z } from 'zod';
import { CoreConfigSchema } from '../../core/config.js';
import { positiveDurationMs } from './duration-schema.js';
import { EnginesSchema } from './engines-schema.js';
import { FaultSchema } from './faults-schema.js';

/** Names of ezones and variants: also used in paths and SLOs, so no spaces or dots. */
const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, { message: 'expected a name of letters, digits, _ and -' });

const ezone = z.object({ gateways: z.number().int().min(1) }).strict();

const topology = z
  .object({
    ezones: z.record(identifier, ezone).refine((m) => Object.keys(m).length > 0, {
      message: 'needs at least one ezone',
    }),
    shards: z.number().int().min(1).max(32).default(30),
  })
  .strict();

const platforms = z
  .object({
    android: z.number().min(0).max(1).default(0),
    ios: z.number().min(0).max(1).default(0),
    h5: z.number().min(0).max(1).default(0),
  })
  .strict()
  .refine((p) => Math.abs(p.android + p.ios + p.h5 - 1) <= 0.001, {
    message: 'platform fractions must add up to 1 (±0.001)',
  });

const reconnect = z
  .object({
    base: positiveDurationMs.default(1000),
    max: positiveDurationMs.default(60_000),
    jitter: z.enum(['full', 'none']).default('full'),
  })
  .strict()
  .transform((r) => ({ baseMs: r.base, maxMs: r.max, jitter: r.jitter }));

const clients = z
  .object({
    count: z.number().int().min(1),
    platforms,
    heartbeat: positiveDurationMs.default(60_000),
    reconnect: reconnect.prefault({}),
    /** The population signs in uniformly over this period at the start; traffic starts after it. */
    ramp: positiveDurationMs.default(60_000),
    /** How long a client caches the dispatch DNS answer (region → ezone). */
    dns_ttl: positiveDurationMs.default(60_000),
  })
  .strict()
  .transform((c) => ({
    count: c.count,
    platforms: c.platforms,
    heartbeatMs: c.heartbeat,
    reconnect: c.reconnect,
    rampMs: c.ramp,
    dnsTtlMs: c.dns_ttl,
  }));

/** Open model: arrivals per second, whatever the system does with them. */
const traffic = z
  .object({
    push_per_s: z.number().min(0),
    upstream_per_s: z.number().min(0).default(0),
    /** Time to live of each push. */
    ttl: positiveDurationMs.default(600_000),
  })
  .strict()
  .transform((t) => ({ pushPerSec: t.push_per_s, upstreamPerSec: t.upstream_per_s, ttlMs: t.ttl }));

const variant = z
  .object({
    /** Setting paths of this file (`clients.reconnect.jitter`, `config.gateway.reapIdle`) → new values. */
    set: z.record(z.string().min(1), z.unknown()).refine((m) => Object.keys(m).length > 0, {
      message: 'needs at least one setting',
    }),
    expect: z.enum(['pass', 'fail']),
    /** For `expect: fail`: the SLO that must be the one failing (one of the scenario's `slo` list). */
    slo: z.string().optional(),
  })
  .strict()
  .transform((v) => ({ set: v.set, expect: v.expect, slo: v.slo ?? null }));

export const ScenarioFileSchema = z
  .object({
    name: identifier,
    seed: z.number().int().min(0).max(0xffff_ffff),
    duration: positiveDurationMs,
    topology,
    clients,
    traffic,
    faults: z.array(FaultSchema).default([]),
    slo: z.array(z.string().min(1)).default([]),
    variants: z.record(identifier, variant).default({}),
    /** Core settings under test (src/core/config.ts); `shards` comes from topology. */
    config: CoreConfigSchema.prefault({}),
    engines: EnginesSchema.prefault({}),
  })
  .strict()
  .transform((s) => ({
    name: s.name,
    seed: s.seed,
    durationMs: s.duration,
    topology: s.topology,
    clients: s.clients,
    traffic: s.traffic,
    faults: s.faults,
    slo: s.slo,
    variants: s.variants,
    config: s.config,
    engines: s.engines,
  }));

export type ScenarioBody = z.output<typeof ScenarioFileSchema>;
export type Variant = ScenarioBody['variants'][string];

/** A validated scenario, ready for the engine. */
export interface Scenario extends ScenarioBody {
  /** The variant applied (applyVariant), or null for the base scenario. */
  variant: string | null;
  /** Factor applied by scale(); 1 when unscaled. */
  scale: number;
  /** Where it came from; applyVariant re-reads the text so errors keep their lines. */
  source: { file: string; text: string };
}
