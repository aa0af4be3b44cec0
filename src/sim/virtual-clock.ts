/**
 * Virtual time for the simulator and for unit tests of the core.
 *
 * A calendar queue with 1 ms buckets over a ring (about 65 s), plus an
 * overflow heap for later events. Two kinds of events share the buckets:
 * closures (the core's timers, few) and compact typed events `(kind, target)`
 * for the simulated clients' hot paths, which allocate nothing; a typed event
 * may carry two references (a connection and the frame it delivers), so a
 * frame in flight needs no queue of its own. Within one
 * millisecond events run in the order they were scheduled; after each busy
 * millisecond the microtask queue is drained, so promise continuations of the
 * core run at the virtual time that caused them. Same inputs, same order.
 */
import type { Scheduler, TimerHandle } from '../core/clock.js';

const RING = 1 << 16;
const FULL_DRAIN_MS = 16;
const MICROTASK_TURNS = 12;
const MASK = RING - 1;

const noop = () => {};

/** A timer is its own handle: one allocation per setTimeout (the dispatcher arms one per push). */
class ClosureEvent implements TimerHandle {
  cancelled = false;
  at = 0;
  constructor(
    public fn: () => void,
    readonly periodMs: number,
  ) {}
  cancel(): void {
    this.cancelled = true;
    // A cancelled timer waits in its bucket until its time (an ACK timer: 30 s); what its closure
    // holds (the message, the session) must not wait with it.
    this.fn = noop;
  }
}

/**
 * One millisecond's events. The arrays keep their capacity between laps of the
 * ring (counts mark the used part): truncating them every millisecond made V8
 * reallocate their storage on the next event.
 */
class Bucket {
  closures: (ClosureEvent | undefined)[] = [];
  closureCount = 0;
  kinds: number[] = [];
  targets: number[] = [];
  /** The typed events' references; a slot is cleared when its event runs, so unused slots stay empty. */
  refs: unknown[] = [];
  payloads: unknown[] = [];
  typedCount = 0;
}

/** Overflow: binary heap ordered by (time, insertion). */
class OverflowHeap {
  private items: {
    at: number;
    seq: number;
    ev: ClosureEvent | null;
    kind: number;
    target: number;
    ref: unknown;
    payload: unknown;
  }[] = [];
  private seq = 0;
  get size() {
    return this.items.length;
  }
  push(at: number, ev: ClosureEvent | null, kind: number, target: number, ref: unknown, payload: unknown) {
    const a = this.items;
    const item = { at, seq: this.seq++, ev, kind, target, ref, payload };
    let i = a.length;
    a.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pi = a[p]!;
      if (pi.at < at || (pi.at === at && pi.seq < item.seq)) break;
      a[i] = pi;
      i = p;
    }
    a[i] = item;
  }
  peekAt(): number {
    return this.items.length ? this.items[0]!.at : Number.POSITIVE_INFINITY;
  }
  pop() {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const less = (x: typeof last, y: typeof last) => x.at < y.at || (x.at === y.at && x.seq < y.seq);
        const c = r < a.length && less(a[r]!, a[l]!) ? r : l;
        if (!less(a[c]!, last)) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

export type TypedEventHandler = (kind: number, target: number, ref: unknown, payload: unknown) => void;

export class VirtualScheduler implements Scheduler {
  private nowMs: number;
  private readonly ring: Bucket[] = Array.from({ length: RING }, () => new Bucket());
  private readonly overflow = new OverflowHeap();
  private pendingCount = 0;
  /** Handler of typed events (the simulator's client model). */
  onTyped: TypedEventHandler | undefined;
  /** Events executed so far. */
  executed = 0;

  constructor(startMs: number) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  get pending(): number {
    return this.pendingCount;
  }

  private place(
    at: number,
    ev: ClosureEvent | null,
    kind: number,
    target: number,
    ref?: unknown,
    payload?: unknown,
  ) {
    const t = Math.max(Math.ceil(at), this.nowMs);
    this.pendingCount++;
    if (t - this.nowMs >= RING) {
      this.overflow.push(t, ev, kind, target, ref, payload);
      return;
    }
    const b = this.ring[t & MASK]!;
    if (ev) {
      ev.at = t;
      b.closures[b.closureCount++] = ev;
    } else {
      const i = b.typedCount++;
      b.kinds[i] = kind;
      b.targets[i] = target;
      if (ref !== undefined) b.refs[i] = ref;
      if (payload !== undefined) b.payloads[i] = payload;
    }
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const ev = new ClosureEvent(fn, 0);
    this.place(this.nowMs + Math.max(0, delayMs), ev, 0, 0);
    return ev;
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    const ev = new ClosureEvent(fn, Math.max(1, periodMs));
    this.place(this.nowMs + ev.periodMs, ev, 0, 0);
    return ev;
  }

  /** Schedules a typed event (no allocation). `kind` and `target` are small integers; `ref` and `payload` are handed back as they are. */
  at(timeMs: number, kind: number, target: number, ref?: unknown, payload?: unknown): void {
    this.place(timeMs, null, kind, target, ref, payload);
  }

  /** Runs every event in the current millisecond bucket, including ones added meanwhile. Returns events run. */
  private runBucket(): number {
    const b = this.ring[this.nowMs & MASK]!;
    let n = 0;
    let ci = 0;
    let ki = 0;
    const typed = this.onTyped;
    // Interleave by list, not by insertion: typed events first, then closures, repeated until both are empty.
    while (ki < b.typedCount || ci < b.closureCount) {
      while (ki < b.typedCount) {
        const kind = b.kinds[ki]!;
        const target = b.targets[ki]!;
        const ref = b.refs[ki];
        const payload = b.payloads[ki];
        // Emptied as it runs: a delivered frame must not stay reachable until the next lap.
        if (ref !== undefined) b.refs[ki] = undefined;
        if (payload !== undefined) b.payloads[ki] = undefined;
        ki++;
        this.pendingCount--;
        n++;
        typed?.(kind, target, ref, payload);
      }
      while (ci < b.closureCount) {
        const ev = b.closures[ci]!;
        b.closures[ci++] = undefined; // a run timer must not stay reachable until the next lap
        this.pendingCount--;
        if (ev.cancelled) continue;
        n++;
        if (ev.periodMs > 0) this.place(this.nowMs + ev.periodMs, ev, 0, 0);
        ev.fn();
      }
    }
    b.typedCount = 0;
    b.closureCount = 0;
    this.executed += n;
    return n;
  }

  private pullOverflow() {
    while (this.overflow.size && this.overflow.peekAt() - this.nowMs < RING) {
      const it = this.overflow.pop();
      this.pendingCount--;
      this.place(it.at, it.ev, it.kind, it.target, it.ref, it.payload);
    }
  }

  /**
   * Advances virtual time to `untilMs`, running every event due. Between busy
   * milliseconds the microtask queue is drained (one macrotask turn), so async
   * core code sees consistent time. `onMs` lets the caller sample metrics.
   */
  async runUntil(untilMs: number, onSecond?: (nowMs: number) => void): Promise<void> {
    while (this.nowMs <= untilMs) {
      if (this.nowMs % 65_536 === 0) this.pullOverflow();
      let ran = this.runBucket();
      while (ran > 0) {
        // A few microtask turns let promise chains started by these events run at this
        // virtual time. A full macrotask drain is costly (~10 µs), so it happens only
        // every FULL_DRAIN_MS; a deeper chain finishes a millisecond or so later, the
        // same way on every run.
        if (this.nowMs % FULL_DRAIN_MS === 0) await drainMicrotasks();
        else for (let i = 0; i < MICROTASK_TURNS; i++) await undefined;
        ran = this.runBucket();
      }
      if (onSecond && this.nowMs % 1000 === 0) onSecond(this.nowMs);
      if (this.nowMs === untilMs) break;
      this.nowMs++;
      if (this.overflow.size && this.overflow.peekAt() - this.nowMs < RING) this.pullOverflow();
    }
    await drainMicrotasks();
  }

  /** Test helper: advance by `ms`. */
  async advance(ms: number): Promise<void> {
    await drainMicrotasks();
    await this.runUntil(this.nowMs + ms);
    await drainMicrotasks();
  }
}

/** Resolves after every queued microtask (and the ones they queue) has run. */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
