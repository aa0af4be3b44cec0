/**
 * A number per status such that `rank(a) < rank(b)` exactly when
 * `canTransition(a, b)` — derived from status.ts, the one rule, so the SQL
 * guard `WHERE status_rank < ?` can never drift from it. rank(s) is the
 * number of statuses that may move to s.
 */
import { canTransition, MESSAGE_STATUSES, type MessageStatus } from '../../core/status.js';

export const STATUS_RANK: Readonly<Record<MessageStatus, number>> = Object.fromEntries(
  MESSAGE_STATUSES.map((s) => [s, MESSAGE_STATUSES.filter((t) => canTransition(t, s)).length]),
) as Record<MessageStatus, number>;

export function isMessageStatus(s: string): s is MessageStatus {
  return (MESSAGE_STATUSES as readonly string[]).includes(s);
}
