/**
 * Messages on MySQL/MariaDB: the production twin of MemoryMessageStore.
 * A status changes only if `canTransition` allows it, decided by the row
 * itself (`UPDATE … WHERE id = ? AND status_rank < ?`) inside one transaction
 * with its history row, so concurrent dispatchers and late ACKs can never
 * move a message backwards or record a change that did not happen.
 *
 * `pending` = 1 while a message waits for delivery (offline queue and expiry
 * sweep); it drops to 0 when the message settles or the sweep passes it
 * (`done_at`). Rows done for longer than `retentionMs` are purged by the sweep.
 * Message ids are decimal u64 strings (SPEC §2), stored as BIGINT UNSIGNED.
 */
import { TacoError } from '../../core/errors.js';
import type { MessageRecord, MessageStore, Priority } from '../../core/ports.js';
import type { PushKind, ThirdPartyChannelName } from '../../core/protocol.js';
import { isSettled, type MessageStatus } from '../../core/status.js';
import { deadlineSignal } from '../deadline.js';
import type { MysqlDb } from './db.js';
import { STATUS_RANK } from './status-rank.js';
import { type Tx, withTransaction } from './transaction.js';

export interface MysqlMessageStoreOptions {
  /** How long messages stay readable after they are done (settled or swept). */
  retentionMs?: number;
  /** Deadline of one store call, transaction included. */
  opTimeoutMs?: number;
  /** Rows purged per sweep at most. */
  purgeBatch?: number;
}

interface MessageRow {
  id: string;
  app: string;
  device: string;
  kind: string;
  title: string | null;
  body: string | null;
  data: string | null;
  priority: string;
  created_at: string;
  expires_at: string;
  status: string;
  channel: string | null;
}

interface HistoryRow {
  message_id: string;
  status: string;
  at: string;
}

interface OkPacket {
  affectedRows: number;
}

const U64_MAX = (1n << 64n) - 1n;
const COLUMNS = 'id, app, device, kind, title, body, data, priority, created_at, expires_at, status, channel';

export function isMessageId(id: string): boolean {
  return /^\d{1,20}$/.test(id) && BigInt(id) <= U64_MAX;
}

function toRecord(r: MessageRow, history: { status: MessageStatus; at: number }[]): MessageRecord {
  const rec: MessageRecord = {
    id: String(r.id),
    app: r.app,
    device: r.device,
    kind: r.kind as PushKind,
    priority: r.priority as Priority,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    status: r.status as MessageStatus,
    channel: (r.channel ?? null) as MessageRecord['channel'],
    history,
  };
  if (r.title !== null) rec.title = r.title;
  if (r.body !== null) rec.body = r.body;
  if (r.data !== null) rec.data = JSON.parse(r.data) as Record<string, unknown>;
  return rec;
}

const isDeadlock = (e: unknown) => /LOCK_DEADLOCK/.test(String((e as TacoError)?.details?.mysqlCode));

export class MysqlMessageStore implements MessageStore {
  private readonly retentionMs: number;
  private readonly opTimeoutMs: number;
  private readonly purgeBatch: number;

  constructor(
    private readonly db: MysqlDb,
    opts: MysqlMessageStoreOptions = {},
  ) {
    this.retentionMs = opts.retentionMs ?? 86_400_000;
    this.opTimeoutMs = opts.opTimeoutMs ?? 5_000;
    this.purgeBatch = opts.purgeBatch ?? 1_000;
  }

  private t(name: string) {
    return this.db.t(name);
  }

  /** One transaction under the op deadline; a deadlock victim is retried (twice). */
  private async tx<T>(what: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const d = deadlineSignal(this.opTimeoutMs, `message store: ${what}`);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await withTransaction(this.db, d.signal, fn);
        } catch (e) {
          if (attempt >= 2 || !isDeadlock(e) || d.signal.aborted) throw e;
        }
      }
    } finally {
      d.dispose();
    }
  }

  private async q<T>(what: string, sql: string, values: unknown[]): Promise<T> {
    const d = deadlineSignal(this.opTimeoutMs, `message store: ${what}`);
    try {
      return await this.db.query<T>(sql, values, { signal: d.signal });
    } finally {
      d.dispose();
    }
  }

  async create(msg: MessageRecord): Promise<void> {
    if (!isMessageId(msg.id))
      throw new TacoError('INVALID_ARGUMENT', `message id "${msg.id}" is not a decimal u64 (SPEC §2)`);
    const pending = isSettled(msg.status) ? 0 : 1;
    await this.tx('create', async (tx) => {
      const r = await tx.query<OkPacket>(
        // Not INSERT IGNORE: that would also turn a too-long value into a silent truncation.
        `INSERT INTO ${this.t('messages')}
           (${COLUMNS}, status_rank, pending, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE id = id`,
        [
          msg.id,
          msg.app,
          msg.device,
          msg.kind,
          msg.title ?? null,
          msg.body ?? null,
          msg.data === undefined ? null : JSON.stringify(msg.data),
          msg.priority,
          msg.createdAt,
          msg.expiresAt,
          msg.status,
          msg.channel,
          STATUS_RANK[msg.status],
          pending,
          pending ? null : msg.createdAt,
        ],
      );
      if (r.affectedRows !== 1 || msg.history.length === 0) return;
      await tx.query(
        `INSERT INTO ${this.t('message_history')} (message_id, status, at) VALUES ${msg.history.map(() => '(?, ?, ?)').join(', ')}`,
        msg.history.flatMap((h) => [msg.id, h.status, h.at]),
      );
    });
  }

  async transition(
    id: string,
    status: MessageStatus,
    at: number,
    channel?: MessageRecord['channel'],
  ): Promise<boolean> {
    if (!isMessageId(id)) return false;
    const settles = isSettled(status);
    return this.tx('transition', async (tx) => {
      const r = await tx.query<OkPacket>(
        `UPDATE ${this.t('messages')}
            SET status = ?, status_rank = ?, channel = IF(?, ?, channel),
                done_at = IF(? AND pending = 1, ?, done_at), pending = IF(?, 0, pending)
          WHERE id = ? AND status_rank < ?`,
        [
          status,
          STATUS_RANK[status],
          channel !== undefined,
          channel ?? null,
          settles,
          at,
          settles,
          id,
          STATUS_RANK[status],
        ],
      );
      const changed = r.affectedRows === 1;
      if (!changed && status === 'sent') {
        // A repeated `sent` (a retry) is history, not a status change — as in the twin.
        const rows = await tx.query<{ status: string }[]>(
          `SELECT status FROM ${this.t('messages')} WHERE id = ? FOR UPDATE`,
          [id],
        );
        if (rows[0]?.status !== 'sent') return false;
      } else if (!changed) return false;
      await tx.query(`INSERT INTO ${this.t('message_history')} (message_id, status, at) VALUES (?, ?, ?)`, [
        id,
        status,
        at,
      ]);
      return changed;
    });
  }

  private async histories(ids: string[]): Promise<Map<string, { status: MessageStatus; at: number }[]>> {
    const out = new Map<string, { status: MessageStatus; at: number }[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await this.q<HistoryRow[]>(
      'history',
      `SELECT message_id, status, at FROM ${this.t('message_history')}
        WHERE message_id IN (${ids.map(() => '?').join(', ')}) ORDER BY seq`,
      ids,
    );
    for (const h of rows)
      out.get(String(h.message_id))?.push({ status: h.status as MessageStatus, at: Number(h.at) });
    return out;
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    if (!isMessageId(id)) return undefined;
    const rows = await this.q<MessageRow[]>(
      'get',
      `SELECT ${COLUMNS} FROM ${this.t('messages')} WHERE id = ?`,
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    return toRecord(row, (await this.histories([id])).get(id)!);
  }

  async pendingFor(app: string, device: string, now: number, limit: number): Promise<MessageRecord[]> {
    const rows = await this.q<MessageRow[]>(
      'pending',
      `SELECT ${COLUMNS} FROM ${this.t('messages')}
        WHERE app = ? AND device = ? AND pending = 1 AND expires_at > ?
        ORDER BY created_at, id LIMIT ?`,
      [app, device, now, Math.max(0, Math.floor(limit))],
    );
    const hist = await this.histories(rows.map((r) => String(r.id)));
    return rows.map((r) => toRecord(r, hist.get(String(r.id))!));
  }

  async expireDue(now: number, limit: number): Promise<string[]> {
    const expiredRank = STATUS_RANK.expired;
    const expired = await this.tx('expire', async (tx) => {
      // SKIP LOCKED: several nodes sweep at once without waiting on each other's rows.
      const due = await tx.query<{ id: string; status_rank: number }[]>(
        `SELECT id, status_rank FROM ${this.t('messages')}
          WHERE pending = 1 AND expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [now, Math.max(0, Math.floor(limit))],
      );
      if (due.length === 0) return [];
      const ids = due.filter((d) => Number(d.status_rank) < expiredRank).map((d) => String(d.id));
      const all = due.map((d) => String(d.id));
      const marks = (a: string[]) => a.map(() => '?').join(', ');
      if (ids.length) {
        await tx.query(
          `UPDATE ${this.t('messages')} SET status = 'expired', status_rank = ?
            WHERE id IN (${marks(ids)}) AND status_rank < ?`,
          [expiredRank, ...ids, expiredRank],
        );
        await tx.query(
          `INSERT INTO ${this.t('message_history')} (message_id, status, at) VALUES ${ids.map(() => "(?, 'expired', ?)").join(', ')}`,
          ids.flatMap((id) => [id, now]),
        );
      }
      // Past its TTL, a message leaves the offline queue whatever its status (e.g. `fallback`).
      await tx.query(
        `UPDATE ${this.t('messages')} SET pending = 0, done_at = ? WHERE id IN (${marks(all)})`,
        [now, ...all],
      );
      return ids;
    });
    await this.purge(now);
    return expired;
  }

  /** Drops messages done for longer than the retention, and stale idempotency keys. */
  private async purge(now: number): Promise<void> {
    const before = now - this.retentionMs;
    const old = await this.q<{ id: string }[]>(
      'purge',
      `SELECT id FROM ${this.t('messages')} WHERE done_at IS NOT NULL AND done_at <= ? LIMIT ?`,
      [before, this.purgeBatch],
    );
    if (old.length) {
      const ids = old.map((r) => String(r.id));
      const marks = ids.map(() => '?').join(', ');
      await this.q('purge', `DELETE FROM ${this.t('message_history')} WHERE message_id IN (${marks})`, ids);
      await this.q('purge', `DELETE FROM ${this.t('messages')} WHERE id IN (${marks})`, ids);
    }
    await this.q('purge', `DELETE FROM ${this.t('idempotency_keys')} WHERE created_at <= ? LIMIT ?`, [
      before,
      this.purgeBatch,
    ]);
  }

  async rememberIdempotency(app: string, key: string, ids: string[], now: number): Promise<string[]> {
    const stale = now - this.retentionMs;
    return this.tx('idempotency', async (tx) => {
      // The first writer of a key wins; a key older than the retention is free again.
      await tx.query(
        `INSERT INTO ${this.t('idempotency_keys')} (app, ikey, ids, created_at) VALUES (?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE ids = IF(created_at <= ?, VALUES(ids), ids),
                                   created_at = IF(created_at <= ?, VALUES(created_at), created_at)`,
        [app, key, JSON.stringify(ids), now, stale, stale],
      );
      const rows = await tx.query<{ ids: string }[]>(
        `SELECT ids FROM ${this.t('idempotency_keys')} WHERE app = ? AND ikey = ?`,
        [app, key],
      );
      return JSON.parse(rows[0]!.ids) as string[];
    });
  }

  async registerChannel(app: string, device: string, channel: ThirdPartyChannelName, token: string) {
    const now = Date.now();
    await this.q(
      'register channel',
      `INSERT INTO ${this.t('device_channels')} (app, device, channel, token, registered_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE token = VALUES(token), updated_at = VALUES(updated_at)`,
      [app, device, channel, token, now, now],
    );
  }

  async channelsOf(app: string, device: string) {
    const rows = await this.q<{ channel: string; token: string }[]>(
      'channels',
      `SELECT channel, token FROM ${this.t('device_channels')}
        WHERE app = ? AND device = ? ORDER BY registered_at, channel`,
      [app, device],
    );
    return rows.map((r) => ({ channel: r.channel as ThirdPartyChannelName, token: r.token }));
  }

  async setConfig(app: string, platform: string, data: Record<string, unknown>): Promise<number> {
    const json = JSON.stringify(data);
    const now = Date.now();
    return this.tx('set config', async (tx) => {
      const rows = await tx.query<{ version: number }[]>(
        `SELECT version FROM ${this.t('app_configs')} WHERE app = ? AND platform = ? FOR UPDATE`,
        [app, platform],
      );
      const version = Number(rows[0]?.version ?? 0) + 1;
      await tx.query(
        `INSERT INTO ${this.t('app_configs')} (app, platform, version, data, updated_at) VALUES (?, ?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE version = VALUES(version), data = VALUES(data), updated_at = VALUES(updated_at)`,
        [app, platform, version, json, now],
      );
      await tx.query(
        `INSERT INTO ${this.t('app_config_versions')} (app, platform, version, data, created_at) VALUES (?, ?, ?, ?, ?)`,
        [app, platform, version, json, now],
      );
      return version;
    });
  }

  async getConfig(app: string, platform: string) {
    const rows = await this.q<{ version: number; data: string }[]>(
      'get config',
      `SELECT version, data FROM ${this.t('app_configs')} WHERE app = ? AND platform = ?`,
      [app, platform],
    );
    const r = rows[0];
    return r
      ? { version: Number(r.version), data: JSON.parse(r.data) as Record<string, unknown> }
      : undefined;
  }
}
