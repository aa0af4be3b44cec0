/**
 * The ports through which the core talks to the world. Each has an embedded
 * twin (src/engines/embedded), a production twin (src/engines/{redis,mysql,amqp})
 * and a simulated twin (src/sim/engines); all are held to one contract suite.
 * Every call that leaves the process takes or applies a deadline.
 */
import type { PushKind, ThirdPartyChannelName } from './protocol.js';
import type { MessageStatus } from './status.js';

// ---------- apps ----------

export interface AppInfo {
  id: string;
  secret: string;
}

/**
 * Where app ids and secrets come from (config file, MySQL). `lookup` must
 * honour `signal`: an aborted signal rejects with CANCELLED.
 */
export interface AppDirectory {
  lookup(appId: string, signal: AbortSignal, timeoutMs: number): Promise<AppInfo | undefined>;
}

// ---------- routes ----------

/** Where a device is connected right now. */
export interface Route {
  app: string;
  device: string;
  user?: string | undefined;
  /** Location key from the token, for the device's shard. */
  loc?: string | undefined;
  node: number;
  ezone: string;
  session: string;
  /** ms since the epoch of the write; last writer wins by (updatedAt, ezone). */
  updatedAt: number;
}

/**
 * device → route, user → devices.
 * Guarantees: `put` is last-writer-wins by (updatedAt, ezone) — an older write never
 * replaces a newer one; `remove` deletes only if the stored session is the one given,
 * so a stale reap never removes a newer session's route. Reads may be stale by the
 * replication lag of the backing store.
 */
export interface RouteStore {
  put(route: Route): Promise<void>;
  remove(app: string, device: string, session: string): Promise<void>;
  get(app: string, device: string): Promise<Route | undefined>;
  devicesOfUser(app: string, user: string): Promise<string[]>;
  /** Every device of an app that has ever signed in (for `to.all`); embedded/sim may bound it. */
  devicesOfApp(app: string): Promise<string[]>;
}

// ---------- messages ----------

export interface MessageRecord {
  id: string;
  app: string;
  device: string;
  kind: PushKind;
  title?: string | undefined;
  body?: string | undefined;
  data?: Record<string, unknown> | undefined;
  priority: Priority;
  createdAt: number;
  expiresAt: number;
  status: MessageStatus;
  channel: 'ws' | ThirdPartyChannelName | null;
  history: { status: MessageStatus; at: number }[];
}

export type Priority = 'high' | 'normal' | 'low';

/**
 * Message status, history and the offline queue.
 * Guarantees: `create` is idempotent by id; `transition` applies only moves allowed
 * by `canTransition` (status.ts) and appends to history atomically with the status;
 * `pendingFor` returns unexpired messages not yet delivered, oldest first.
 */
export interface MessageStore {
  create(msg: MessageRecord): Promise<void>;
  /** Returns whether the status changed. */
  transition(
    id: string,
    status: MessageStatus,
    at: number,
    channel?: MessageRecord['channel'],
  ): Promise<boolean>;
  /** A settled message may come back without its payload (title, body, data): the embedded store drops it. */
  get(id: string): Promise<MessageRecord | undefined>;
  pendingFor(app: string, device: string, now: number, limit: number): Promise<MessageRecord[]>;
  /** Marks every undelivered message with expiresAt <= now as expired; returns their ids. */
  expireDue(now: number, limit: number): Promise<string[]>;
  /** Idempotency: remembers the ids a key produced (per app) for `ttlMs`. */
  rememberIdempotency(app: string, key: string, ids: string[], now: number): Promise<string[]>;
  registerChannel(app: string, device: string, channel: ThirdPartyChannelName, token: string): Promise<void>;
  channelsOf(app: string, device: string): Promise<{ channel: ThirdPartyChannelName; token: string }[]>;
  setConfig(app: string, platform: string, data: Record<string, unknown>): Promise<number>;
  getConfig(
    app: string,
    platform: string,
  ): Promise<{ version: number; data: Record<string, unknown> } | undefined>;
}

// ---------- queue ----------

export interface PushJob {
  id: string;
  app: string;
  device: string;
  priority: Priority;
  expiresAt: number;
  attempt: number;
}

export interface UpstreamMessage {
  app: string;
  device: string;
  id: string;
  data: Record<string, unknown>;
  at: number;
}

export interface QueueDelivery<T> {
  body: T;
  /** True when the broker has delivered this message before (a consumer died). */
  redelivered: boolean;
}

export interface ConsumerHandle {
  /** Changes the number of concurrent handlers (scales consumers at run time). */
  setConcurrency(n: number): void;
  cancel(): Promise<void>;
}

export interface QueueStats {
  ready: number;
  unacked: number;
  consumers: number;
}

/**
 * Durable work queues.
 * Guarantees: `publish` resolves only once the message is durable (publisher confirm);
 * delivery is at least once; a handler that resolves acks, one that rejects nacks and
 * the message is redelivered; higher priority is delivered before lower when both wait.
 */
export interface Queue {
  publish<T>(queue: string, body: T, opts: { priority?: number }): Promise<void>;
  consume<T>(
    queue: string,
    handler: (d: QueueDelivery<T>) => Promise<void>,
    opts: { concurrency: number },
  ): Promise<ConsumerHandle>;
  stats(queue: string): Promise<QueueStats>;
}

// ---------- node-to-node RPC ----------

export interface DeliverRequest {
  app: string;
  device: string;
  session: string;
  frame: import('./protocol.js').PushFrame;
}

export type DeliverResult = 'sent' | 'no-session';

/**
 * Delivery to the node that holds a session (internal gRPC in production).
 * Guarantees: every call ends by `deadlineMs` at the latest (DEADLINE_EXCEEDED);
 * calls beyond the per-peer in-flight bound fail fast with QUOTA_EXHAUSTED rather than queue.
 */
export interface PeerRpc {
  deliver(node: number, req: DeliverRequest, deadlineMs: number): Promise<DeliverResult>;
  forwardAck(
    ezone: string,
    ack: { app: string; id: string; status: string; at: number },
    deadlineMs: number,
  ): Promise<void>;
}

// ---------- node directory ----------

/** A node's entry in the directory: where its internal gRPC service listens. */
export interface NodeInfo {
  node: number;
  ezone: string;
  /** host:port of the node's internal gRPC service (`taco.internal.v1`). */
  address: string;
  /** ms since the epoch after which the entry no longer counts unless re-registered. */
  expiresAt: number;
}

/**
 * Which node listens where (node ids are unique across ezones).
 * Guarantees: the latest `register` of a node wins; an entry not re-registered
 * within `ttlMs` disappears by itself (a crashed node drops out); `lookup` and
 * `list` never return an expired entry.
 */
export interface NodeDirectory {
  register(node: number, ezone: string, address: string, ttlMs: number): Promise<void>;
  lookup(node: number): Promise<NodeInfo | undefined>;
  /** Live nodes, of one ezone when given, ordered by node id. */
  list(ezone?: string): Promise<NodeInfo[]>;
}

// ---------- third-party channels ----------

export interface ThirdPartyChannel {
  readonly name: ThirdPartyChannelName;
  /** Sends a notification or data message; resolves when the vendor accepted it. */
  send(token: string, msg: MessageRecord, deadlineMs: number): Promise<void>;
}

// ---------- telemetry ----------

/**
 * What the core reports. Production binds prom-client; the simulator binds HDR
 * histograms on virtual time. Names are the simulator's metric names.
 */
export interface Telemetry {
  count(name: string, n?: number): void;
  observe(name: string, value: number): void;
  gauge(name: string, value: number): void;
}

export const nullTelemetry: Telemetry = {
  count() {},
  observe() {},
  gauge() {},
};

// ---------- shard map ("GZS") ----------

/**
 * The shard map shared by every node of every ezone (src/core/shard-map.ts).
 * Guarantees:
 * - `commit(next)` is a compare-and-set on the version: it succeeds only if the
 *   latest committed version is `next.version - 1` (0: none yet), so two
 *   operators never both apply a change to the same base; the loser fails with
 *   INVALID_ARGUMENT `details.conflict` and nothing is written. Versions grow by
 *   one, each whole and validated, with who/when in `change`.
 * - `current` returns the latest committed version (undefined before the
 *   first); a commit is visible to every later `current` of any node.
 * - `history` keeps every version (newest first); `get` reads one.
 * - `watch` notifies committed versions as they are learned, in any order,
 *   possibly skipping some or repeating; it is a latency optimisation only —
 *   nodes also reconcile with `current` periodically (ShardMapFollower), which
 *   is what bounds how late a node learns a change.
 * Every call that leaves the process has a deadline.
 */
export interface ShardMapStore {
  current(): Promise<import('./shard-map.js').ShardMapState | undefined>;
  commit(next: import('./shard-map.js').ShardMapState): Promise<void>;
  get(version: number): Promise<import('./shard-map.js').ShardMapState | undefined>;
  history(limit: number): Promise<import('./shard-map.js').ShardMapState[]>;
  watch(listener: (m: import('./shard-map.js').ShardMapState) => void): () => void;
}
