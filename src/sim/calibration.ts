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
    /** Server CPU per small inbound frame, e.g. ping + pong (µs). */
    frameCpuUs: z.number().positive(),
    /** Server CPU per unicast push + its ACK (µs). */
    pushCpuUs: z.number().positive(),
    cores: z.number().int().positive(),
  }),
  network: z.object({
    rttMs: z.number().nonnegative(),
    jitterMs: z.number().nonnegative(),
    connectTimeoutMs: z.number().positive(),
    pongTimeoutMs: z.number().positive(),
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
