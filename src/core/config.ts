/**
 * The core's settings, with production defaults. `taco serve` reads them from
 * taco.yaml; scenarios override them by path (`set: {gateway.reapIdle: false}`).
 * Unknown keys are errors, never silently ignored.
 */
import { z } from 'zod';

const reconnect = z
  .object({
    baseMs: z.number().int().positive().default(1000),
    maxMs: z.number().int().positive().default(60_000),
    jitter: z.enum(['full', 'none']).default('full'),
  })
  .strict();

export const CoreConfigSchema = z
  .object({
    shards: z.number().int().min(1).max(32).default(30),
    gateway: z
      .object({
        heartbeatSec: z.number().int().min(1).max(3600).default(60),
        helloTimeoutMs: z.number().int().positive().default(10_000),
        /** Protection against the CLOSE_WAIT leak: the wheel closes silent and half-open sessions. */
        reapIdle: z.boolean().default(true),
        wheelTickMs: z.number().int().positive().default(1000),
        /** Admission control: sign-ins per second per node; 0 disables it. */
        signInsPerSec: z.number().min(0).default(3000),
        signInBurst: z.number().int().min(1).default(3000),
        retryAfterMs: z.number().int().positive().default(2000),
        /** Sessions closed per second when draining (ezone moved, node shutdown). */
        drainPerSec: z.number().positive().default(2000),
        reconnect: reconnect.prefault({}),
        maxPendingOnSignIn: z.number().int().positive().default(100),
      })
      .strict()
      .prefault({}),
    dispatch: z
      .object({
        ackTimeoutMs: z.number().int().positive().default(10_000),
        retryBaseMs: z.number().int().positive().default(2_000),
        retryMaxMs: z.number().int().positive().default(60_000),
        /** Unacked this long (or offline) and a third-party token is known → fallback channel. */
        fallbackAfterMs: z.number().int().positive().default(30_000),
        /** Deadline on every node-to-node call; 0 reproduces the no-deadline incident (drills only). */
        rpcDeadlineMs: z.number().int().min(0).default(5_000),
        /** Pending RPCs per peer beyond which calls fail fast instead of queueing. */
        maxPendingRpcPerPeer: z.number().int().positive().default(1_000),
        /** Per-peer circuit breaker (core/peer-breaker.ts): consecutive failures → calls paused. */
        peerBreaker: z
          .object({
            /** Consecutive failed calls that open a peer's breaker; 0 turns it off. */
            failures: z.number().int().min(0).default(20),
            openMs: z.number().int().positive().default(1_000),
            maxOpenMs: z.number().int().positive().default(30_000),
          })
          .strict()
          .prefault({}),
        expirySweepMs: z.number().int().positive().default(1_000),
        defaultTtlSec: z.number().int().positive().default(86_400),
        maxTtlSec: z
          .number()
          .int()
          .positive()
          .default(7 * 86_400),
        consumers: z
          .object({
            min: z.number().int().min(1).default(4),
            max: z.number().int().min(1).default(64),
            /** Scale up when the backlog per consumer exceeds this. */
            backlogPerConsumer: z.number().int().positive().default(200),
            scaleIntervalMs: z.number().int().positive().default(5_000),
            autoscale: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        /** Apps with their own queue; everyone else shares one. */
        dedicatedApps: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        refreshMs: z.number().int().positive().default(300_000),
        lookupTimeoutMs: z.number().int().positive().default(2_000),
        /** Reproduces the auth-cache-cancel incident; drills only. */
        reuseRequestSignal: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type CoreConfig = z.output<typeof CoreConfigSchema>;
export type CoreConfigInput = z.input<typeof CoreConfigSchema>;

export function coreConfig(input: CoreConfigInput = {}): CoreConfig {
  return CoreConfigSchema.parse(input);
}
