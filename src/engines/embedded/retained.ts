/**
 * When the embedded store lets go of the messages it keeps after they stop
 * being pending: each is kept at least `retentionMs`, and at most `max` are
 * kept. Their ids are appended to segments in the order they were kept, and
 * a segment goes whole, once its newest message is past the retention (or
 * the oldest segment when more than `max` are kept). An append per message
 * replaces a min-heap push and pop, each O(log n) over a million entries
 * with a cache miss per level (docs/benchmarks.md, 2026-12-03 fifth round).
 */
export class RetentionSegments {
  private segments: { ids: string[]; lastAt: number }[] = [];
  private total = 0;
  private readonly segmentSize: number;

  constructor(
    private readonly retentionMs: number,
    private readonly max: number,
    /** Called for each id of a dropped segment: the store deletes the message. */
    private readonly drop: (id: string) => void,
  ) {
    // ~16 segments when bounded: the cap holds to within a sixteenth.
    this.segmentSize = Number.isFinite(max) ? Math.max(1, Math.min(65_536, Math.ceil(max / 16))) : 65_536;
  }

  get size(): number {
    return this.total;
  }

  /** Starts the retention of a message kept at `at` (once per message). */
  add(id: string, at: number): void {
    let seg = this.segments[this.segments.length - 1];
    if (seg === undefined || seg.ids.length >= this.segmentSize) {
      seg = { ids: [], lastAt: at };
      this.segments.push(seg);
    }
    seg.ids.push(id);
    if (at > seg.lastAt) seg.lastAt = at;
    this.total++;
    while (this.total > this.max) this.dropOldest();
  }

  /** Drops the segments whose newest message is past the retention at `now`. */
  dropExpired(now: number): void {
    while (this.segments.length > 0 && this.segments[0]!.lastAt + this.retentionMs <= now) this.dropOldest();
  }

  private dropOldest(): void {
    const seg = this.segments.shift();
    if (!seg) return;
    this.total -= seg.ids.length;
    for (const id of seg.ids) this.drop(id);
  }
}
