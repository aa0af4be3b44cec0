/**
 * Messages the embedded store keeps after they stop being pending, for at
 * least `retentionMs`, at most `max` of them: in segments, by the order they
 * were kept, each a small Map. A segment goes whole once its newest entry is
 * past the retention (or the oldest when there are more than `max`), so a
 * message costs one insert into a map that stays in cache and no delete.
 * A single Map of a million entries made every insert and delete a cache miss
 * and was the store's largest cost at saturation (docs/benchmarks.md,
 * 2026-12-03 fifth round). Lookups go newest first: most are for messages
 * settled moments ago (a `displayed` ACK after the `received` one).
 */
export class RetainedMessages<V> {
  private segments: { map: Map<string, V>; lastAt: number }[] = [];
  private total = 0;
  private readonly segmentSize: number;

  constructor(
    private readonly retentionMs: number,
    private readonly max: number,
  ) {
    // ~16 segments when bounded: the cap holds to within a sixteenth.
    this.segmentSize = Number.isFinite(max) ? Math.max(1, Math.min(65_536, Math.ceil(max / 16))) : 65_536;
  }

  get size(): number {
    return this.total;
  }

  /** Keeps a message not kept yet (the caller knows: it comes from the pending ones). */
  add(id: string, value: V, at: number): void {
    let seg = this.segments[this.segments.length - 1];
    if (seg === undefined || seg.map.size >= this.segmentSize) {
      seg = { map: new Map(), lastAt: at };
      this.segments.push(seg);
    }
    seg.map.set(id, value);
    if (at > seg.lastAt) seg.lastAt = at;
    this.total++;
    while (this.total > this.max) this.dropOldest();
  }

  /** Replaces a kept message where it is (its retention does not start again); false when not kept. */
  replace(id: string, value: V): boolean {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const map = this.segments[i]!.map;
      if (map.has(id)) {
        map.set(id, value);
        return true;
      }
    }
    return false;
  }

  get(id: string): V | undefined {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const v = this.segments[i]!.map.get(id);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Drops the segments whose newest message is past the retention at `now`. */
  dropExpired(now: number): void {
    while (this.segments.length > 0 && this.segments[0]!.lastAt + this.retentionMs <= now) this.dropOldest();
  }

  private dropOldest(): void {
    const seg = this.segments.shift();
    if (seg) this.total -= seg.map.size;
  }
}
