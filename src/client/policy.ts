/**
 * Client-side policy, pure: reconnect delays, the dedup window, the display
 * rules of SPEC §3 and what to do on each close code. The SDK (client.ts) and
 * the simulator's clients both use these, so a simulated client reconnects,
 * dedups and displays exactly like a real one. No sockets, timers or clocks;
 * randomness comes in as an argument. Hot-path calls allocate nothing.
 */
import { type BackoffPolicy, backoffDelayMs } from '../core/backoff.js';
import { type AckStatus, type AppState, CloseCodes, type PushKind } from '../core/protocol.js';

/** Used until the server's welcome says otherwise (same as the gateway's default). */
export const DEFAULT_RECONNECT: Readonly<BackoffPolicy> = { baseMs: 1000, maxMs: 60_000, jitter: 'full' };

/**
 * Largest wait a server can impose (retry-after, and the welcome's baseMs/maxMs).
 * A buggy or hostile server must not park clients for days, nor overflow a
 * timer (Node runs a setTimeout beyond 2^31-1 ms after 1 ms: a reconnect storm).
 */
export const RETRY_AFTER_MAX_MS = 3_600_000;

/** Backoff exponent cap: base·2^30 exceeds any sane maxMs, and the counter must not grow forever. */
const ATTEMPT_MAX = 30;

/**
 * The delay before reconnect attempt `attempt` (0-based), for callers that keep
 * the attempt counter themselves (the simulator keeps it in a typed array).
 *
 * Without a floor: full jitter, uniform in [0, min(max, base·2^attempt)).
 * With a server floor (retry-after) the jittered delay is added on top of it
 * rather than taking max(floor, jitter): every client the server turned away in
 * the same second got the same retry-after, and max() would bring them all back
 * in the same millisecond — the storm the server was shedding.
 */
export function reconnectDelayMs(
  p: BackoffPolicy,
  attempt: number,
  floorMs: number,
  random: () => number,
): number {
  const d = backoffDelayMs(p, attempt, random);
  return floorMs > 0 ? floorMs + d : d;
}

/**
 * Reconnect state of one client: the settings (from the welcome's `reconnect`
 * field when present), the attempt counter and a pending server floor.
 * Implements BackoffPolicy itself so computing a delay allocates nothing.
 */
export class ReconnectPolicy implements BackoffPolicy {
  baseMs: number;
  maxMs: number;
  jitter: 'full' | 'none';
  private attempt_ = 0;
  private floorMs_ = 0;

  constructor(init: Partial<BackoffPolicy> = {}) {
    this.baseMs = DEFAULT_RECONNECT.baseMs;
    this.maxMs = DEFAULT_RECONNECT.maxMs;
    this.jitter = DEFAULT_RECONNECT.jitter;
    this.update(init);
  }

  /** Reconnect attempts since the last reset (0 = the next delay is the first). */
  get attempt(): number {
    return this.attempt_;
  }

  /** The server floor that the next delay will include, in ms (0 = none). */
  get floorMs(): number {
    return this.floorMs_;
  }

  /**
   * Takes the server's settings (welcome `reconnect`). Invalid fields are ignored
   * one by one — the SDK must not trust the wire —, values are capped at
   * RETRY_AFTER_MAX_MS and max is kept ≥ base.
   * Returns whether anything changed.
   */
  update(wire: Partial<BackoffPolicy> | undefined): boolean {
    if (!wire) return false;
    const base = isPositiveMs(wire.baseMs) ? Math.min(wire.baseMs, RETRY_AFTER_MAX_MS) : this.baseMs;
    const max = isPositiveMs(wire.maxMs) ? Math.min(wire.maxMs, RETRY_AFTER_MAX_MS) : this.maxMs;
    const jitter = wire.jitter === 'full' || wire.jitter === 'none' ? wire.jitter : this.jitter;
    const changed = base !== this.baseMs || Math.max(base, max) !== this.maxMs || jitter !== this.jitter;
    this.baseMs = base;
    this.maxMs = Math.max(base, max);
    this.jitter = jitter;
    return changed;
  }

  /**
   * The server asked to wait at least `ms` (error frame `retryAfterMs`, or a
   * close reason `retry-after=N`). Several hints before one reconnect: the largest wins.
   */
  retryAfter(ms: number): void {
    if (!(ms > 0)) return; // also rejects NaN
    this.floorMs_ = Math.max(this.floorMs_, Math.min(ms, RETRY_AFTER_MAX_MS));
  }

  /** The delay before the next attempt; advances the attempt counter and consumes the floor. */
  nextDelayMs(random: () => number): number {
    const d = reconnectDelayMs(this, this.attempt_, this.floorMs_, random);
    if (this.attempt_ < ATTEMPT_MAX) this.attempt_++;
    this.floorMs_ = 0;
    return d;
  }

  /** After a successful welcome: the next failure starts again from base. */
  reset(): void {
    this.attempt_ = 0;
    this.floorMs_ = 0;
  }
}

function isPositiveMs(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/**
 * Remembers the last `capacity` distinct message ids (FIFO, not LRU: a repeat
 * does not refresh an id, so the window is a plain "recently first seen" set).
 * Memory is bounded by `capacity`; has/add are O(1). The ring grows on demand,
 * so a client that receives few messages holds few slots.
 */
export class DedupWindow {
  private readonly ring: string[] = [];
  private readonly seen = new Set<string>();
  private next = 0;

  constructor(readonly capacity = 1024) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`DedupWindow capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.seen.size;
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** Returns true if `id` is new (and remembers it), false for a duplicate. */
  add(id: string): boolean {
    // One hash lookup, not `has` then `add`: the simulator's window holds millions of ids, and
    // each lookup there is a cache miss.
    const before = this.seen.size;
    this.seen.add(id);
    if (this.seen.size === before) return false;
    if (this.ring.length < this.capacity) {
      this.ring.push(id);
    } else {
      // The oldest cannot be `id`: every id in the ring is in `seen`, and `id` was not.
      this.seen.delete(this.ring[this.next]!);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    return true;
  }

  clear(): void {
    this.ring.length = 0;
    this.seen.clear();
    this.next = 0;
  }
}

/** `notify`: a system notification is shown; `data`: the payload goes to the app; `drop`: nobody sees it. */
export type DisplayDecision = 'notify' | 'data' | 'drop';

/** App lifecycle as the display rules see it; `not-running` only matters when the SDK is offline. */
export type AppRunState = AppState | 'not-running';

/**
 * SPEC §3 display table. `online` = the copy came over the SDK's long
 * connection; offline = it came through a third-party channel.
 *
 * | kind         | offline                         | online, background | online, foreground |
 * | notification | notify (shown by the channel)   | notify (by the SDK)| data               |
 * | passthrough  | data, or drop if not running    | data               | data               |
 */
export function displayDecision(kind: PushKind, online: boolean, appState: AppRunState): DisplayDecision {
  if (kind === 'notification') {
    // Online and in the foreground the user is already in the app: hand it the data, no banner.
    return online && appState === 'foreground' ? 'data' : 'notify';
  }
  // Passthrough never shows a notification; offline it is a data message the OS drops if the app is dead.
  return !online && appState === 'not-running' ? 'drop' : 'data';
}

/**
 * ACK statuses the SDK sends for one copy, in order. `received` goes out at
 * once for every copy, duplicates included (SPEC §3: the SDK ACKs every copy);
 * `displayed` when the notification is shown and `opened` when the user taps
 * it (the app calls `displayed(id)` / `opened(id)`). A dropped copy never
 * reaches SDK code, so nothing is sent for it.
 */
export const DECISION_ACKS: Readonly<Record<DisplayDecision, readonly AckStatus[]>> = {
  notify: ['received', 'displayed', 'opened'],
  data: ['received'],
  drop: [],
};

/** `reconnect-after`: reconnect, but not before the wait the server named (see parseRetryAfterMs). */
export type CloseAction = 'reconnect' | 'reconnect-after' | 'stop';

/**
 * What to do when the connection closes with `code` (and `reason`).
 * - 4401 bad/expired token: stop; retrying with the same credentials cannot work.
 * - 4409 replaced: stop; another session of this device took over, and two
 *   SDK instances that both reconnected would evict each other forever.
 * - everything else (4408 timeout, 4429, 4503 draining/moved, 1006 network
 *   loss, 1011, unknown codes, even 4400): reconnect with backoff, which bounds
 *   the cost of a mistake; a `retry-after=N` in the reason makes it `reconnect-after`.
 */
export function closeCodeAction(code: number, reason = ''): CloseAction {
  if (code === CloseCodes.BAD_TOKEN || code === CloseCodes.REPLACED) return 'stop';
  return parseRetryAfterMs(reason) === undefined ? 'reconnect' : 'reconnect-after';
}

const RETRY_AFTER_RE = /(?:^|[\s;,])retry-after=(\d+(?:\.\d+)?)(?![\d.])/i;

/** `retry-after=N` (seconds, as the gateway writes it in 4503 close reasons) → ms, capped. */
export function parseRetryAfterMs(reason: string): number | undefined {
  const m = RETRY_AFTER_RE.exec(reason);
  if (!m) return undefined;
  return Math.min(Math.round(Number(m[1]) * 1000), RETRY_AFTER_MAX_MS);
}
