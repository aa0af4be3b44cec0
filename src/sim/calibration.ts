/**
 * The simulator's cost model, kept in one documented file
 * (calibration/sim.json) so a live measurement (`taco load calibrate`) can
 * replace the first figures taken from MEASUREMENTS.md.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const CalibrationSchema = z.object({
  source: z.string(),
  gateway: z.object({
    /** RSS per held connection (bytes). */
    sessionBytes: z.number().positive(),
    /** Server CPU per WebSocket upgrade + hello (µs). */
    signInCpuUs: z.number().positive(),
    /**
     * The hello's part of `signInCpuUs` (token, session, route, welcome), spent a round trip
     * after the accept and upgrade; unset: the whole sign-in at the accept.
     */
    helloShare: z.number().min(0).max(1).optional(),
    /** Server CPU per small inbound frame, e.g. ping + pong (µs). */
    frameCpuUs: z.number().positive(),
    /** Server CPU per unicast push + its ACK (µs). */
    pushCpuUs: z.number().positive(),
    /**
     * Server CPU to read a close and tear down a connection (µs): a session
     * whose peer went away, or a connection whose client gave up while it
     * waited to be accepted. Files from before it was measured get 60 µs.
     */
    closeCpuUs: z.number().positive().default(60),
    cores: z.number().int().positive(),
  }),
  network: z.object({
    rttMs: z.number().nonnegative(),
    jitterMs: z.number().nonnegative(),
    /**
     * A measured one-way latency distribution instead of rtt/2 + uniform jitter: [quantile, ms]
     * points, quantiles rising in (0, 1] and ending at 1, ms not falling; sampled by linear
     * interpolation from (0, 0). The agreement test derives it from pings on loopback.
     */
    oneWayQuantiles: z
      .array(z.tuple([z.number().gt(0).max(1), z.number().nonnegative()]))
      .min(1)
      .refine((a) => a.every((x, i) => i === 0 || (x[0] > a[i - 1]![0] && x[1] >= a[i - 1]![1])), {
        message: 'quantiles must rise and latencies must not fall',
      })
      .refine((a) => a[a.length - 1]![0] === 1, { message: 'the last quantile must be 1' })
      .optional(),
    connectTimeoutMs: z.number().positive(),
    pongTimeoutMs: z.number().positive(),
    /** Connections one gateway's listen queue holds: min(the backlog taco serve asks for, net.core.somaxconn). */
    listenBacklog: z.number().int().positive().default(4096),
    /** TCP's initial SYN retransmission timeout (Linux: 1 s, doubling: retries at 1, 3, 7, 15 s …). */
    synRetransmitMs: z.number().positive().default(1000),
  }),
  rpc: z.object({
    latencyMs: z.number().nonnegative(),
    /** Memory held by one queued or active internal call (bytes). */
    pendingCallBytes: z.number().positive(),
  }),
});

export type Calibration = z.output<typeof CalibrationSchema>;

export const CALIBRATION_FILE = fileURLToPath(new URL('../../calibration/sim.json', import.meta.url));

export function loadCalibration(file = CALIBRATION_FILE): Calibration {
  return CalibrationSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}
