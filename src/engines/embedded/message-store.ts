/**
 * In-process message store: the embedded twin of the MySQL store. Settled
 * messages are kept for `retentionMs` and then dropped, so memory stays
 * bounded on a long-running `taco serve` (and in a 1.6M-client simulation).
 */
import { AppDeviceMap } from '../../core/app-device-map.js';
import { SYNC_ENGINE, type SyncMessageStore } from '../../core/dispatcher.js';
import type { MessageRecord, MessageStore } from '../../core/ports.js';
import type { ThirdPartyChannelName } from '../../core/protocol.js';
import { canTransition, isSettled, type MessageStatus } from '../../core/status.js';

const key = (app: string, device: string) => `${app}\u0000${device}`;
/** The one history of every record when history is off: never written (transitionSync checks keepHistory). */
const NO_HISTORY = Object.freeze([]) as unknown as MessageRecord['history'];

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

export class MemoryMessageStore implements MessageStore, SyncMessageStore {
  private readonly messages = new Map<string, MessageRecord>();
  /** Unsettled message ids per device: one id as a plain string (the common case), more in a set. */
  private readonly pendingByDevice = new AppDeviceMap<string | Set<string>>();
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

  /** The dispatcher's synchronous view (see SYNC_ENGINE): only while no one has replaced the async methods. */
  [SYNC_ENGINE](): SyncMessageStore | undefined {
    const own = MemoryMessageStore.prototype;
    return this.get === own.get && this.create === own.create && this.transition === own.transition
      ? this
      : undefined;
  }

  createSync(msg: MessageRecord): void {
    if (this.messages.has(msg.id)) return;
    // A field-by-field copy (no spread): the caller keeps its object, the store owns this one.
    const rec: MessageRecord = {
      id: msg.id,
      app: msg.app,
      device: msg.device,
      kind: msg.kind,
      priority: msg.priority,
      createdAt: msg.createdAt,
      expiresAt: msg.expiresAt,
      status: msg.status,
      channel: msg.channel,
      history: this.opts.keepHistory ? [...msg.history] : NO_HISTORY,
    };
    if (msg.title !== undefined) rec.title = msg.title;
    if (msg.body !== undefined) rec.body = msg.body;
    if (msg.data !== undefined) rec.data = msg.data;
    this.insert(rec);
  }

  /** `createSync` of a record the caller hands over and never touches again: kept as it is, not copied. */
  createOwnedSync(rec: MessageRecord): void {
    if (this.messages.has(rec.id)) return;
    if (!this.opts.keepHistory) rec.history = NO_HISTORY;
    this.insert(rec);
  }

  private insert(rec: MessageRecord): void {
    this.messages.set(rec.id, rec);
    if (!isSettled(rec.status)) {
      const cur = this.pendingByDevice.get(rec.app, rec.device);
      if (cur === undefined) this.pendingByDevice.set(rec.app, rec.device, rec.id);
      else if (typeof cur === 'string') this.pendingByDevice.set(rec.app, rec.device, new Set([cur, rec.id]));
      else cur.add(rec.id);
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
      // Kept for the retention (an hour by default): a history grown by push() holds ~17 slots for
      // its 4 or 5 entries, an exact copy is a third of that, and the grown one dies young.
      if (this.opts.keepHistory) rec.history = rec.history.slice();
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
    const cur = this.pendingByDevice.get(rec.app, rec.device);
    if (cur === undefined) return;
    if (typeof cur === 'string') {
      if (cur === rec.id) this.pendingByDevice.delete(rec.app, rec.device);
      return;
    }
    cur.delete(rec.id);
    if (cur.size === 0) this.pendingByDevice.delete(rec.app, rec.device);
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    return this.messages.get(id);
  }

  getSync(id: string): MessageRecord | undefined {
    return this.messages.get(id);
  }

  async pendingFor(app: string, device: string, now: number, limit: number): Promise<MessageRecord[]> {
    const cur = this.pendingByDevice.get(app, device);
    if (cur === undefined) return [];
    const out: MessageRecord[] = [];
    for (const id of typeof cur === 'string' ? [cur] : cur) {
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
    for (const cur of this.pendingByDevice.values()) {
      for (const id of typeof cur === 'string' ? [cur] : cur) {
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
