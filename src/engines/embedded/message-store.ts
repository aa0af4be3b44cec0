/**
 * In-process message store: the embedded twin of the MySQL store. Settled
 * messages are kept for `retentionMs` and then dropped, so memory stays
 * bounded on a long-running `taco serve` (and in a 1.6M-client simulation).
 */
import type { MessageRecord, MessageStore } from '../../core/ports.js';
import type { ThirdPartyChannelName } from '../../core/protocol.js';
import { canTransition, isSettled, type MessageStatus } from '../../core/status.js';

const key = (app: string, device: string) => `${app}\u0000${device}`;

/** Min-heap of (time, id) used for expiry and retention. */
class TimeHeap {
  private t: number[] = [];
  private ids: string[] = [];
  get size() {
    return this.t.length;
  }
  push(time: number, id: string) {
    const t = this.t;
    const ids = this.ids;
    let i = t.length;
    t.push(time);
    ids.push(id);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! <= time) break;
      t[i] = t[p]!;
      ids[i] = ids[p]!;
      i = p;
    }
    t[i] = time;
    ids[i] = id;
  }
  peekTime(): number {
    return this.t.length ? this.t[0]! : Number.POSITIVE_INFINITY;
  }
  pop(): string | undefined {
    const t = this.t;
    const ids = this.ids;
    if (!t.length) return undefined;
    const top = ids[0];
    const lastT = t.pop()!;
    const lastId = ids.pop()!;
    if (t.length) {
      let i = 0;
      const n = t.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && t[r]! < t[l]! ? r : l;
        if (t[c]! >= lastT) break;
        t[i] = t[c]!;
        ids[i] = ids[c]!;
        i = c;
      }
      t[i] = lastT;
      ids[i] = lastId;
    }
    return top;
  }
}

export interface MemoryMessageStoreOptions {
  /** How long settled messages stay readable (GET /v1/messages/{id}). */
  retentionMs: number;
  /** Keep per-message history (off in the simulator to save memory; statuses still counted). */
  keepHistory: boolean;
}

export class MemoryMessageStore implements MessageStore {
  private readonly messages = new Map<string, MessageRecord>();
  private readonly pendingByDevice = new Map<string, Set<string>>();
  private readonly expiry = new TimeHeap();
  private readonly retention = new TimeHeap();
  private readonly idempotency = new Map<string, { ids: string[]; at: number }>();
  private readonly channels = new Map<string, Map<ThirdPartyChannelName, string>>();
  private readonly configs = new Map<string, { version: number; data: Record<string, unknown> }>();
  private readonly opts: MemoryMessageStoreOptions;
  /** Called once per status change (the simulator counts statuses through it). */
  onTransition: ((rec: MessageRecord, from: MessageStatus, at: number) => void) | undefined;

  constructor(opts: Partial<MemoryMessageStoreOptions> = {}) {
    this.opts = { retentionMs: 3_600_000, keepHistory: true, ...opts };
  }

  get size(): number {
    return this.messages.size;
  }

  async create(msg: MessageRecord): Promise<void> {
    this.createSync(msg);
  }

  createSync(msg: MessageRecord): void {
    if (this.messages.has(msg.id)) return;
    const rec = { ...msg, history: this.opts.keepHistory ? [...msg.history] : [] };
    this.messages.set(msg.id, rec);
    if (!isSettled(rec.status)) {
      const k = key(rec.app, rec.device);
      let set = this.pendingByDevice.get(k);
      if (!set) this.pendingByDevice.set(k, (set = new Set()));
      set.add(rec.id);
      this.expiry.push(rec.expiresAt, rec.id);
    }
  }

  async transition(id: string, status: MessageStatus, at: number, channel?: MessageRecord['channel']) {
    return this.transitionSync(id, status, at, channel);
  }

  transitionSync(id: string, status: MessageStatus, at: number, channel?: MessageRecord['channel']): boolean {
    const rec = this.messages.get(id);
    if (!rec) return false;
    const from = rec.status;
    if (!canTransition(from, status)) {
      // A repeated `sent` (retry) is history, not a status change.
      if (status === 'sent' && from === 'sent' && this.opts.keepHistory) rec.history.push({ status, at });
      return false;
    }
    rec.status = status;
    if (channel !== undefined) rec.channel = channel;
    if (this.opts.keepHistory) rec.history.push({ status, at });
    if (isSettled(status) && !isSettled(from)) {
      this.unpend(rec);
      this.retention.push(at + this.opts.retentionMs, id);
    }
    this.onTransition?.(rec, from, at);
    return true;
  }

  /**
   * A message past its TTL whose status cannot become `expired` (`fallback`: the vendor has it)
   * stops being pending and is dropped after the retention like a settled one.
   */
  private retire(id: string, now: number) {
    const rec = this.messages.get(id);
    if (!rec || isSettled(rec.status)) return;
    this.unpend(rec);
    this.retention.push(now + this.opts.retentionMs, id);
  }

  private unpend(rec: MessageRecord) {
    const k = key(rec.app, rec.device);
    const set = this.pendingByDevice.get(k);
    if (set) {
      set.delete(rec.id);
      if (set.size === 0) this.pendingByDevice.delete(k);
    }
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    return this.messages.get(id);
  }

  async pendingFor(app: string, device: string, now: number, limit: number): Promise<MessageRecord[]> {
    const set = this.pendingByDevice.get(key(app, device));
    if (!set) return [];
    const out: MessageRecord[] = [];
    for (const id of set) {
      const rec = this.messages.get(id);
      if (rec && rec.expiresAt > now) out.push(rec);
      if (out.length >= limit) break;
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async expireDue(now: number, limit: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < limit && this.expiry.peekTime() <= now) {
      const id = this.expiry.pop()!;
      if (this.transitionSync(id, 'expired', now)) out.push(id);
      else this.retire(id, now);
    }
    while (this.retention.peekTime() <= now) {
      const id = this.retention.pop()!;
      this.messages.delete(id);
    }
    for (const [k, v] of this.idempotency) {
      if (v.at + this.opts.retentionMs > now) break;
      this.idempotency.delete(k);
    }
    return out;
  }

  async rememberIdempotency(app: string, keyStr: string, ids: string[], now: number): Promise<string[]> {
    const k = key(app, keyStr);
    const cur = this.idempotency.get(k);
    if (cur) return cur.ids;
    this.idempotency.set(k, { ids, at: now });
    return ids;
  }

  async registerChannel(app: string, device: string, channel: ThirdPartyChannelName, token: string) {
    const k = key(app, device);
    let m = this.channels.get(k);
    if (!m) this.channels.set(k, (m = new Map()));
    m.set(channel, token);
  }

  async channelsOf(app: string, device: string) {
    return [...(this.channels.get(key(app, device)) ?? [])].map(([channel, token]) => ({ channel, token }));
  }

  *unsettled(): Generator<MessageRecord> {
    for (const ids of this.pendingByDevice.values()) {
      for (const id of ids) {
        const rec = this.messages.get(id);
        if (rec) yield rec;
      }
    }
  }

  async setConfig(app: string, platform: string, data: Record<string, unknown>): Promise<number> {
    const k = key(app, platform);
    const version = (this.configs.get(k)?.version ?? 0) + 1;
    this.configs.set(k, { version, data });
    return version;
  }

  async getConfig(app: string, platform: string) {
    return this.configs.get(key(app, platform));
  }
}

/** Messages not yet settled (delivered, expired or failed): the simulator's loss check reads them at the end. */
export function* unsettledMessages(store: MemoryMessageStore): Generator<MessageRecord> {
  yield* store.unsettled();
}
