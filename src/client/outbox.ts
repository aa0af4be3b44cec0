/**
 * Frames the SDK owes the server across reconnects, with bounded memory.
 *
 * UpstreamOutbox: `up` frames until their `up.ack` (at least once). Each is sent
 * again on every welcome (the previous connection may have lost it) and, while
 * connected, once it has waited a full resend period without an ack. Time is
 * counted in resend periods (ticks) rather than read from a clock, so the SDK
 * needs nothing but setTimeout.
 *
 * AckBacklog: ACKs made while disconnected (`opened` after a tap, `received`
 * for a third-party copy), sent after the next welcome. When full the oldest
 * is dropped: an ACK is an optimisation of the dispatcher's retries and
 * fallbacks, never needed for correctness.
 */

interface PendingUp {
  text: string;
  sentTick: number;
  resolve: (acked: boolean) => void;
}

export class UpstreamOutbox {
  private readonly pending = new Map<string, PendingUp>();
  private tick = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** Queues an encoded `up` frame; the promise resolves true on up.ack, false if abandoned. */
  add(id: string, text: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      this.pending.set(id, { text, sentTick: Number.NEGATIVE_INFINITY, resolve });
    });
  }

  /** `up.ack` arrived. Returns false for an unknown id (a late duplicate ack). */
  ack(id: string): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    p.resolve(true);
    return true;
  }

  /** Marks one frame as just sent (a send on an open connection). */
  markSent(id: string): void {
    const p = this.pending.get(id);
    if (p) p.sentTick = this.tick;
  }

  /** Every pending frame, oldest first (after a welcome). */
  sendAll(send: (text: string) => void): void {
    for (const p of this.pending.values()) {
      p.sentTick = this.tick;
      send(p.text);
    }
  }

  /**
   * One resend period has passed: sends again every frame sent at least one
   * full period ago (so a frame is resent between 1 and 2 periods after it went out).
   */
  resendDue(send: (text: string) => void): void {
    this.tick++;
    for (const p of this.pending.values()) {
      if (p.sentTick <= this.tick - 2) {
        p.sentTick = this.tick;
        send(p.text);
      }
    }
  }

  /** Resolves every pending promise with false and forgets them (client closed). */
  abandonAll(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.resolve(false);
  }
}

export class AckBacklog {
  private readonly texts: string[] = [];

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.texts.length;
  }

  push(text: string): void {
    if (this.texts.length >= this.capacity) this.texts.shift();
    this.texts.push(text);
  }

  drain(send: (text: string) => void): void {
    const all = this.texts.splice(0);
    for (const t of all) send(t);
  }
}
