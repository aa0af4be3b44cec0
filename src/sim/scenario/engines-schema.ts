/**
 * Parameters of the simulated engines (`engines:` in a scenario). They say how
 * the simulated world behaves, not how the core is configured (that is
 * `config:`). Every field has a default, so `engines:` is optional, and
 * unknown keys are errors. Defaults come from shared/MEASUREMENTS.md (bare-ws
 * costs on this machine) or, where nothing was measured, are round guesses
 * marked as such; `taco load calibrate` is meant to replace them.
 *
 * File keys (what `set:` paths use)      → normalised field
 * routeStore.latency      1ms            → routeStore.latencyMs    one read/write round trip (Redis-like; guess)
 * routeStore.outage       error          → routeStore.outage       during an engine-outage fault calls `error` at
 *                                                                  once or `hang` until the caller's deadline
 * messageStore.latency    2ms            → messageStore.latencyMs  one statement (MySQL-like; guess)
 * queue.consumerRate      2000           → queue.consumerRatePerSec jobs one consumer takes per second (guess)
 * queue.diskModeThreshold 100000         → queue.diskModeThreshold backlog (messages) beyond which the broker
 *                                                                  pages to disk (RabbitMQ lazy mode; guess)
 * queue.diskModeSlowdown  4              → queue.diskModeSlowdown  consumers are this many times slower then
 * rpc.maxConcurrentStreams 100           → rpc.maxConcurrentStreams HTTP/2 streams per node-to-node connection
 *                                                                  (the gRPC default); more calls wait
 * rpc.latency             0.5ms          → rpc.latencyMs           one node-to-node call, excluding queueing
 *                                                                  (loopback round trip ~0.12ms, plus work)
 * gateway.sessionBytes    calibration    → gateway.sessionBytes    memory per idle session
 * gateway.signInCpuUs     calibration    → gateway.signInCpuUs     CPU per sign-in (upgrade + hello)
 * gateway.frameCpuUs      calibration    → gateway.frameCpuUs      CPU per small inbound frame (ping + pong)
 *                         (unset: the measured figure in calibration/sim.json, written by `taco load
 *                         calibrate`; a scenario sets one only to model a gateway unlike the measured one)
 * gateway.acceptPerSec    4500           → gateway.acceptPerSec    new connections one gateway accepts per
 *                                                                  second (~4,500/s per core measured)
 * (no key)                               → gateway.costScale       what scale() multiplies each per-operation
 *                                                                  cost by, set or from the calibration
 */
import { z } from 'zod';
import { durationMs } from './duration-schema.js';

const routeStore = z
  .object({
    latency: durationMs.default(1),
    outage: z.enum(['error', 'hang']).default('error'),
  })
  .strict()
  .transform((r) => ({ latencyMs: r.latency, outage: r.outage }));

const messageStore = z
  .object({ latency: durationMs.default(2) })
  .strict()
  .transform((r) => ({ latencyMs: r.latency }));

const queue = z
  .object({
    consumerRate: z.number().positive().default(2000),
    diskModeThreshold: z.number().int().positive().default(100_000),
    diskModeSlowdown: z.number().min(1).default(4),
  })
  .strict()
  .transform((q) => ({
    consumerRatePerSec: q.consumerRate,
    diskModeThreshold: q.diskModeThreshold,
    diskModeSlowdown: q.diskModeSlowdown,
  }));

const rpc = z
  .object({
    maxConcurrentStreams: z.number().int().positive().default(100),
    latency: durationMs.default(0.5),
  })
  .strict()
  .transform((r) => ({ maxConcurrentStreams: r.maxConcurrentStreams, latencyMs: r.latency }));

const gateway = z
  .object({
    sessionBytes: z.number().int().positive().optional(),
    signInCpuUs: z.number().positive().optional(),
    frameCpuUs: z.number().positive().optional(),
    acceptPerSec: z.number().positive().default(4500),
  })
  .strict()
  .transform((g) => ({ ...g, costScale: 1 }));

export const EnginesSchema = z
  .object({
    routeStore: routeStore.prefault({}),
    messageStore: messageStore.prefault({}),
    queue: queue.prefault({}),
    rpc: rpc.prefault({}),
    gateway: gateway.prefault({}),
  })
  .strict();

export type EngineParams = z.output<typeof EnginesSchema>;

export function defaultEngineParams(): EngineParams {
  return EnginesSchema.parse({});
}
