/**
 * A settled message as the embedded store keeps it for its retention: what
 * `GET /v1/messages/{id}` and a late ACK need (app, device, status, channel,
 * kind, priority, times, history), without the payload, in one flat string.
 *
 * Why: a full record is ~660 bytes on the heap in a dozen objects (the record,
 * its history array and entries, boxed times, the payload), and the store
 * keeps each for an hour. At saturation every record outlived the young
 * generation, so each scavenge copied them all and the old generation grew by
 * ~40 MB/s (bench, 2026-12-03). Packed, a settled message is one object and
 * one string (~150 bytes) that the collector copies but never traces.
 */
import type { MessageRecord, Priority } from '../../core/ports.js';
import type { PushKind } from '../../core/protocol.js';
import type { MessageStatus } from '../../core/status.js';

export class SettledMessage {
  constructor(
    readonly app: string,
    readonly device: string,
    /** status,channel,kind,priority,createdAt,expiry,(status,at)… joined by commas (none of them holds one). */
    readonly packed: string,
  ) {}
}

// One letter per value (a shorter string to copy); times after createdAt as a delta from it.
const STATUS_CODE: Record<MessageStatus, string> = {
  accepted: 'a',
  queued: 'q',
  sent: 's',
  delivered: 'd',
  displayed: 'D',
  opened: 'o',
  fallback: 'f',
  expired: 'e',
  failed: 'x',
};
const CODE_STATUS = new Map(Object.entries(STATUS_CODE).map(([k, v]) => [v, k as MessageStatus]));
const KIND_CODE: Record<PushKind, string> = { notification: 'n', passthrough: 'p' };
const CODE_KIND = new Map(Object.entries(KIND_CODE).map(([k, v]) => [v, k as PushKind]));
const PRIORITY_CODE: Record<Priority, string> = { high: 'h', normal: 'n', low: 'l' };
const CODE_PRIORITY = new Map(Object.entries(PRIORITY_CODE).map(([k, v]) => [v, k as Priority]));

/** A time as its delta from `base` when that gives it back exactly (integer ms do), else `=time`. */
function rel(at: number, base: number): number | string {
  const d = at - base;
  return base + d === at ? d : `=${at}`;
}
function unrel(s: string, base: number): number {
  return s.startsWith('=') ? Number(s.slice(1)) : base + Number(s);
}

/** Packs a record whose status is settled; its history may be empty (history off). */
export function packSettled(rec: MessageRecord): SettledMessage {
  const base = rec.createdAt;
  const parts: (string | number)[] = [
    STATUS_CODE[rec.status],
    rec.channel ?? '',
    KIND_CODE[rec.kind],
    PRIORITY_CODE[rec.priority],
    base,
    rel(rec.expiresAt, base),
  ];
  for (const h of rec.history) parts.push(STATUS_CODE[h.status], rel(h.at, base));
  // Array#join builds a flat string: `+=` would leave a tree of pieces for the collector to trace.
  return new SettledMessage(rec.app, rec.device, parts.join(','));
}

export function unpackSettled(id: string, s: SettledMessage): MessageRecord {
  const p = s.packed.split(',');
  const base = Number(p[4]);
  const history: MessageRecord['history'] = [];
  for (let i = 6; i + 1 < p.length; i += 2)
    history.push({ status: CODE_STATUS.get(p[i]!)!, at: unrel(p[i + 1]!, base) });
  return {
    id,
    app: s.app,
    device: s.device,
    kind: CODE_KIND.get(p[2]!)!,
    priority: CODE_PRIORITY.get(p[3]!)!,
    createdAt: base,
    expiresAt: unrel(p[5]!, base),
    status: CODE_STATUS.get(p[0]!)!,
    channel: (p[1] || null) as MessageRecord['channel'],
    history,
  };
}
