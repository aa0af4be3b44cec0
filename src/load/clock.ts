/**
 * Time for load measurements. `monoMs` reads CLOCK_MONOTONIC (process.hrtime),
 * which is one clock for every process on the machine, so a time stamp taken
 * by the push sender and read by a client process in another process gives a
 * latency with microsecond resolution and no wall-clock steps.
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
