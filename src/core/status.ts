/**
 * Message statuses (SPEC §4) and the one rule for moving between them: a
 * status applies only if it ranks higher than the current one. A late ACK
 * therefore turns `expired` or `fallback` into `delivered` (the device has it),
 * but nothing moves a delivered message back.
 */
export const MESSAGE_STATUSES = [
  'accepted',
  'queued',
  'sent',
  'delivered',
  'displayed',
  'opened',
  'fallback',
  'expired',
  'failed',
] as const;

export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

const RANK: Record<MessageStatus, number> = {
  accepted: 0,
  queued: 1,
  sent: 2,
  fallback: 3,
  expired: 3,
  failed: 3,
  delivered: 4,
  displayed: 5,
  opened: 6,
};

export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return RANK[to] > RANK[from];
}

export function isDelivered(s: MessageStatus): boolean {
  return RANK[s] >= RANK.delivered;
}

/** Terminal for the dispatcher: it stops retrying. */
export function isSettled(s: MessageStatus): boolean {
  return RANK[s] >= RANK.delivered || s === 'expired' || s === 'failed';
}
