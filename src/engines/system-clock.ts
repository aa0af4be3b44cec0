/** The real clock for `taco serve`: wall time and Node timers, unref'd so they never hold the process open. */
import type { Random, Scheduler, TimerHandle } from '../core/clock.js';

/** A handle that is the timer and one method, not a closure per timer (the dispatcher arms one per push). */
class NodeTimeout implements TimerHandle {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.t);
  }
}
class NodeInterval implements TimerHandle {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearInterval(this.t);
  }
}

export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  setTimeout(fn, delayMs): TimerHandle {
    return new NodeTimeout(setTimeout(fn, delayMs).unref());
  },
  setInterval(fn, periodMs): TimerHandle {
    return new NodeInterval(setInterval(fn, periodMs).unref());
  },
};

export const systemRandom: Random = { next: () => Math.random() };
