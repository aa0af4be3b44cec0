/**
 * Hashed timing wheel for per-connection deadlines (sign-in and heartbeat).
 * One wheel per node and one periodic tick instead of a timer per connection:
 * `touch` is O(1) pointer work with no allocation (entries are intrusive), which
 * is what lets one node hold 100k+ sessions and the simulator 1.6M.
 *
 * The wheel is lazy: a touch that only moves a deadline later (every heartbeat
 * and ACK of a live connection) records it and leaves the entry where it is; the
 * entry moves to its slot when its old slot comes round. A live connection is
 * relinked about once per deadline span instead of once per frame, and `touch`
 * writes only the entry. Entries expire in the order an eager wheel gives
 * (within a slot, the most recently touched first), so callers see no difference.
 */
export interface WheelEntry {
  wheelPrev: WheelEntry | null;
  wheelNext: WheelEntry | null;
  /** ms deadline; NaN when not scheduled. */
  wheelDeadline: number;
  /** The slot the entry is linked in. */
  wheelSlot: number;
  /** The slot of its deadline (it moves there when `wheelSlot` comes round, if they differ). */
  wheelWant: number;
  /** Order of the last touch: entries due in one slot expire latest-touched first. */
  wheelSeq: number;
}

export class TimingWheel<T extends WheelEntry> {
  private readonly heads: (WheelEntry | null)[];
  private readonly slotCount: number;
  private cursorMs: number;
  private size_ = 0;
  private seq = 0;

  /**
   * @param tickMs resolution; deadlines fire at most `tickMs` late.
   * @param slotCount ring size; deadlines beyond one revolution are re-queued when their slot comes round.
   */
  constructor(
    private readonly tickMs: number,
    slotCount: number,
    startMs: number,
  ) {
    this.slotCount = slotCount;
    this.heads = new Array(slotCount).fill(null);
    this.cursorMs = Math.floor(startMs / tickMs) * tickMs;
  }

  get size(): number {
    return this.size_;
  }

  /** Schedules or reschedules `e` to expire at `deadlineMs`. */
  touch(e: T, deadlineMs: number): void {
    // Never schedule into a slot the cursor has already passed.
    const tick = Math.max(Math.ceil(deadlineMs / this.tickMs), this.cursorMs / this.tickMs + 1);
    const slot = tick % this.slotCount;
    e.wheelSeq = ++this.seq;
    e.wheelWant = slot;
    if (!Number.isNaN(e.wheelDeadline)) {
      // Later than before: its current slot comes round first, and moves it on then.
      if (deadlineMs >= e.wheelDeadline) {
        e.wheelDeadline = deadlineMs;
        return;
      }
      this.unlink(e);
    }
    e.wheelDeadline = deadlineMs;
    this.link(e, slot);
    this.size_++;
  }

  remove(e: T): void {
    if (!Number.isNaN(e.wheelDeadline)) this.unlink(e);
  }

  private link(e: WheelEntry, slot: number): void {
    e.wheelSlot = slot;
    const head = this.heads[slot] ?? null;
    e.wheelPrev = null;
    e.wheelNext = head;
    if (head) head.wheelPrev = e;
    this.heads[slot] = e;
  }

  /** Takes `e` out of its slot's list (its deadline and the count stay). */
  private detach(e: WheelEntry): void {
    if (e.wheelPrev) e.wheelPrev.wheelNext = e.wheelNext;
    else this.heads[e.wheelSlot] = e.wheelNext;
    if (e.wheelNext) e.wheelNext.wheelPrev = e.wheelPrev;
    e.wheelPrev = null;
    e.wheelNext = null;
  }

  private unlink(e: WheelEntry): void {
    this.detach(e);
    e.wheelDeadline = Number.NaN;
    this.size_--;
  }

  /** Advances to `nowMs` and calls `onExpire` for each entry whose deadline passed (already removed). */
  advance(nowMs: number, onExpire: (e: T) => void): void {
    const target = Math.floor(nowMs / this.tickMs) * this.tickMs;
    // Bound the work when the clock jumps far ahead: one revolution covers every slot.
    if (target - this.cursorMs > this.slotCount * this.tickMs) {
      this.cursorMs = target - this.slotCount * this.tickMs;
    }
    while (this.cursorMs < target) {
      this.cursorMs += this.tickMs;
      this.expireSlot((this.cursorMs / this.tickMs) % this.slotCount, nowMs, onExpire);
    }
    // The next slot holds deadlines in (target, target + tickMs]: when `nowMs` is inside that
    // tick (callers need not advance on tick boundaries), the ones already passed are due now.
    if (nowMs > target) this.expireSlot((target / this.tickMs + 1) % this.slotCount, nowMs, onExpire);
  }

  private expireSlot(slot: number, nowMs: number, onExpire: (e: T) => void): void {
    let e = this.heads[slot] ?? null;
    let due: WheelEntry[] | undefined;
    while (e) {
      const next: WheelEntry | null = e.wheelNext;
      if (e.wheelWant !== slot) {
        // Touched later since it was linked here: on to its deadline's slot.
        this.detach(e);
        this.link(e, e.wheelWant);
      } else if (e.wheelDeadline <= nowMs) {
        if (due === undefined) due = [e];
        else due.push(e);
      }
      e = next;
    }
    if (due === undefined) return;
    // An eager wheel's order: each touch linked its entry at the head of its slot.
    if (due.length > 1) due.sort((a, b) => b.wheelSeq - a.wheelSeq);
    for (const d of due) {
      // An earlier expiry's callback may have touched or removed it.
      if (d.wheelSlot !== slot || d.wheelWant !== slot || !(d.wheelDeadline <= nowMs)) continue;
      this.unlink(d);
      onExpire(d as T);
    }
  }
}
