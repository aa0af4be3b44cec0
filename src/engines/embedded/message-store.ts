/**
 * In-process message store: the embedded twin of the MySQL store. Memory
 * stays bounded on a long-running `taco serve` (and in a 1.6M-client
 * simulation): settled messages are kept for `retentionMs`, at most
 * `maxSettled` of them (the oldest go first), packed without their payload
 * (settled-message.ts); at most `maxUnsettled` messages wait for delivery,
 * and a push past that is refused (OVERLOADED) rather than grow the heap
 * until the process dies. A JS Map holds at most 2^24 entries: an hour of
 * retention at 6,000 pushes/s would pass it and crash the node.
 */
import { AppDeviceMap } from '../../core/app-device-map.js';
import { SYNC_ENGINE, type SyncMessageStore } from '../../core/dispatcher.js';
import { TacoError } from '../../core/errors.js';
import type { MessageRecord, MessageStore } from '../../core/ports.js';
import type { ThirdPartyChannelName } from '../../core/protocol.js';
import { canTransition, isSettled, type MessageStatus } from '../../core/status.js';
import { RetentionSegments } from './retained.js';
import { packSettled, SettledMessage, unpackSettled } from './settled-message.js';

const key = (app: string, device: string) => `${app}\u0000${device}`;
/** The one history of every record when history is off: never written (transitionSync checks keepHistory). */
const NO_HISTORY = Object.freeze([]) as unknown as MessageRecord['history'];

/** Min-heap of (time, id): the pending messages by expiry. */
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
  /** Most settled messages kept readable; past it the oldest is dropped before its retention ends. */
  maxSettled: number;
  /** Most messages waiting for delivery (not settled); a new one past it is refused with OVERLOADED. */
  maxUnsettled: number;
}

export const EMBEDDED_STORE_DEFAULTS: MemoryMessageStoreOptions = {
  retentionMs: 3_600_000,
  keepHistory: true,
  // ~150 MB packed; an hour of retention at 280 pushes/s. Longer history needs MySQL.
  maxSettled: 1_000_000,
  // ~700 MB of full records (payload, history) waiting for their devices.
  maxUnsettled: 1_000_000,
};

export class MemoryMessageStore implements MessageStore, SyncMessageStore {
  /**
   * Every message: pending ones as full records; settled ones packed when history is kept
   * (settled-message.ts), until their retention ends (retained.ts). One map, so a message is
   * inserted once and changed in place.
   */
  private readonly messages = new Map<string, MessageRecord | SettledMessage>();
  private unsettledCount = 0;
  /** Unsettled message ids per device: one id as a plain string (the common case), more in a set. */
  private readonly pendingByDevice = new AppDeviceMap<string | Set<string>>();
  private expiry = new TimeHeap();
  private readonly retention: RetentionSegments;
  private readonly idempotency = new Map<string, { ids: string[]; at: number }>();
  private readonly channels = new Map<string, Map<ThirdPartyChannelName, string>>();
  private readonly configs = new Map<string, { version: number; data: Record<string, unknown> }>();
  private readonly opts: MemoryMessageStoreOptions;
  /** Called once per status change (the simulator counts statuses through it). */
  onTransition: ((rec: MessageRecord, from: MessageStatus, at: number) => void) | undefined;

  constructor(opts: Partial<MemoryMessageStoreOptions> = {}) {
    this.opts = { ...EMBEDDED_STORE_DEFAULTS, ...opts };
    this.retention = new RetentionSegments(this.opts.retentionMs, this.opts.maxSettled, (id) =>
      this.messages.delete(id),
    );
  }

  get size(): number {
    return this.messages.size;
  }

  /** Messages not yet settled (the ones `maxUnsettled` counts). */
  get unsettledSize(): number {
    return this.unsettledCount;
  }

  /** Entries of the expiry heap (tests: it must not keep growing with settled messages). */
  get expiryHeapSize(): number {
    return this.expiry.size;
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
    const settled = isSettled(rec.status);
    if (!settled && this.unsettledCount >= this.opts.maxUnsettled) {
      throw new TacoError(
        'OVERLOADED',
        `embedded message store: ${this.unsettledCount} messages are waiting for delivery, the most it holds (maxUnsettled); deliver or expire some, or run on MySQL (engines.mysql)`,
        { unsettled: this.unsettledCount, maxUnsettled: this.opts.maxUnsettled },
      );
    }
    this.messages.set(rec.id, rec);
    if (settled) {
      this.retain(rec, rec.createdAt, false);
    } else {
      this.unsettledCount++;
      const cur = this.pendingByDevice.get(rec.app, rec.device);
      if (cur === undefined) this.pendingByDevice.set(rec.app, rec.device, rec.id);
      else if (typeof cur === 'string') this.pendingByDevice.set(rec.app, rec.device, new Set([cur, rec.id]));
      else cur.add(rec.id);
      this.expiry.push(rec.expiresAt, rec.id);
      this.compactExpiry();
    }
  }

  /**
   * A settled message is kept readable until its retention ends, packed when history is kept (the
   * simulator keeps none, and its records are already small). `retained`: it was retired before (a
   * `fallback` message past its TTL, delivered late), so its retention has begun already.
   */
  private retain(rec: MessageRecord, at: number, retained: boolean): void {
    if (this.opts.keepHistory) this.messages.set(rec.id, packSettled(rec));
    if (!retained) this.retention.add(rec.id, at);
  }

  /**
   * The expiry heap keeps an entry per message until its TTL, settled or not (removing one from the
   * middle of a heap is not worth it per ACK). With TTLs of hours that is most of the heap: rebuilt
   * from the pending messages once dead entries outnumber live ones.
   */
  private compactExpiry(): void {
    if (this.expiry.size <= 2 * this.unsettledCount + 65_536) return;
    const live = new TimeHeap();
    for (const rec of this.unsettled()) live.push(rec.expiresAt, rec.id);
    this.expiry = live;
  }

  async transition(id: string, status: MessageStatus, at: number, channel?: MessageRecord['channel']) {
    return this.transitionSync(id, status, at, channel);
  }

  transitionSync(id: string, status: MessageStatus, at: number, channel?: MessageRecord['channel']): boolean {
    const kept = this.messages.get(id);
    if (!kept) return false;
    if (kept instanceof SettledMessage) return this.transitionSettled(id, kept, status, at, channel);
    const rec = kept;
    const from = rec.status;
    if (!canTransition(from, status)) {
      // A repeated `sent` (retry) is history, not a status change.
      if (status === 'sent' && from === 'sent' && this.opts.keepHistory) rec.history.push({ status, at });
      return false;
    }
    rec.status = status;
    if (channel !== undefined) rec.channel = channel;
    if (this.opts.keepHistory) rec.history.push({ status, at });
    if (isSettled(status) && !isSettled(from)) this.retain(rec, at, !this.unpend(rec));
    this.onTransition?.(rec, from, at);
    return true;
  }

  /** A later status of a settled message (a `displayed` or `opened` ACK): unpacked, moved, packed again. */
  private transitionSettled(
    id: string,
    kept: SettledMessage,
    status: MessageStatus,
    at: number,
    channel: MessageRecord['channel'] | undefined,
  ): boolean {
    const rec = unpackSettled(id, kept);
    const from = rec.status;
    if (!canTransition(from, status)) return false;
    rec.status = status;
    if (channel !== undefined) rec.channel = channel;
    rec.history.push({ status, at });
    this.messages.set(id, packSettled(rec));
    this.onTransition?.(rec, from, at);
    return true;
  }

  /**
   * A message past its TTL whose status cannot become `expired` (`fallback`: the vendor has it)
   * stops being pending and is dropped after the retention like a settled one.
   */
  private retire(id: string, now: number) {
    const rec = this.messages.get(id);
    if (!rec || rec instanceof SettledMessage || isSettled(rec.status)) return;
    if (!this.unpend(rec)) return; // retired before (a `fallback` message past its TTL)
    // Not packed: a late ACK still moves it to `delivered` through the full record.
    this.retention.add(id, now);
  }

  /** Takes the message off its device's pending list; false when it was not on it. */
  private unpend(rec: MessageRecord): boolean {
    const cur = this.pendingByDevice.get(rec.app, rec.device);
    if (cur === undefined) return false;
    if (typeof cur === 'string') {
      if (cur !== rec.id) return false;
      this.pendingByDevice.delete(rec.app, rec.device);
    } else {
      if (!cur.delete(rec.id)) return false;
      if (cur.size === 0) this.pendingByDevice.delete(rec.app, rec.device);
    }
    this.unsettledCount--;
    return true;
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    return this.getSync(id);
  }

  /** The record; a settled one is unpacked into a fresh object (without its payload). */
  getSync(id: string): MessageRecord | undefined {
    const kept = this.messages.get(id);
    return kept instanceof SettledMessage ? unpackSettled(id, kept) : kept;
  }

  async pendingFor(app: string, device: string, now: number, limit: number): Promise<MessageRecord[]> {
    const cur = this.pendingByDevice.get(app, device);
    if (cur === undefined) return [];
    const out: MessageRecord[] = [];
    for (const id of typeof cur === 'string' ? [cur] : cur) {
      const rec = this.messages.get(id);
      if (rec && !(rec instanceof SettledMessage) && rec.expiresAt > now) out.push(rec);
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
    this.retention.dropExpired(now);
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
        if (rec && !(rec instanceof SettledMessage)) yield rec;
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
