/** The real clock for `taco serve`: wall time and Node timers, unref'd so they never hold the process open. */
import type { Random, Scheduler, TimerHandle } from '../core/clock.js';

export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  setTimeout(fn, delayMs): TimerHandle {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, periodMs): TimerHandle {
    const t = setInterval(fn, periodMs);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};

export const systemRandom: Random = { next: () => Math.random() };
