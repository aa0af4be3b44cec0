/**
 * ACK routing between ezones (SPEC §1): a device ACKs on whichever gateway it
 * is connected to, but the message's record lives in its home ezone — the
 * ezone that processed it, which is its shard's ezone in the shard map. An
 * ACK for a message this ezone does not hold is forwarded over
 * `PeerRpc.forwardAck`, with one deadline for the whole attempt, to the
 * shard's current home first, then to the other ezones of the map (the
 * shard's earlier home, for messages accepted before a shard moved).
 *
 * The receiving side (`onForwarded`) only applies an ACK to a message it
 * holds, else answers NOT_FOUND so the sender tries the next ezone; it never
 * forwards again, so an ACK cannot loop.
 */
import type { Scheduler } from './clock.js';
import { DONE, type SyncMessageStore, syncOf } from './dispatcher.js';
import { TacoError } from './errors.js';
import { decodeMsgId, isMsgIdSyntax } from './msgid.js';
import type { MessageRecord, MessageStore, PeerRpc, Telemetry } from './ports.js';
import type { AckStatus } from './protocol.js';
import type { ShardMapState, ShardMapView } from './shard-map.js';

const ACK_STATUSES: readonly AckStatus[] = ['received', 'displayed', 'opened'];

export interface ForwardedAckIn {
  app: string;
  id: string;
  status: string;
  at: number;
}

export interface AckRouterDeps {
  ezone: string;
  messages: MessageStore;
  rpc: PeerRpc;
  view: ShardMapView;
  clock: Scheduler;
  telemetry: Telemetry;
  /** Applies an ACK to a message this ezone holds (Dispatcher.onAck); `rec` is the record just read, if any. */
  applyLocal(app: string, device: string, id: string, status: AckStatus, rec?: MessageRecord): Promise<void>;
  /** Deadline of one ACK's forwarding, all attempts included. */
  deadlineMs: number;
}

/** Ezones to ask, in order, for a message of `shard`: its home, then the map's other ezones; never `self`. */
export function ackTargets(m: ShardMapState, shard: number, self: string): string[] {
  const home = m.shards[shard];
  const out: string[] = [];
  if (home && home !== self) out.push(home);
  for (const e of m.ezones) if (e !== self && e !== home) out.push(e);
  return out;
}

function isNotFound(e: unknown): boolean {
  const t = e as TacoError;
  return t?.code === 'NOT_FOUND' || (t?.details as { grpcCode?: number } | undefined)?.grpcCode === 5;
}

export class AckRouter {
  constructor(private readonly d: AckRouterDeps) {}

  /** An ACK from a device signed in on this node. */
  onAck(app: string, device: string, id: string, status: AckStatus): Promise<void> {
    const { d } = this;
    // A store that answers at once (SYNC_ENGINE): the record read without a promise hop, and an
    // ACK of a message held here goes straight to the dispatcher, as below.
    const sync = syncOf<SyncMessageStore>(d.messages);
    if (sync === undefined) return this.onAckAsync(app, device, id, status);
    try {
      if (!isMsgIdSyntax(id)) {
        d.telemetry.count('ack.unknown');
        return DONE;
      }
      const here = sync.getSync(id);
      if (here) return d.applyLocal(app, device, id, status, here);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.forward(app, id, status);
  }

  private async onAckAsync(app: string, device: string, id: string, status: AckStatus): Promise<void> {
    const { d } = this;
    if (!isMsgIdSyntax(id)) {
      d.telemetry.count('ack.unknown');
      return;
    }
    // The record is here: this is its home, whatever the map says now.
    const here = await d.messages.get(id);
    if (here) return d.applyLocal(app, device, id, status, here);
    return this.forward(app, id, status);
  }

  /** An ACK of a message this ezone does not hold: to the shard's home, then the map's other ezones. */
  private async forward(app: string, id: string, status: AckStatus): Promise<void> {
    const { d } = this;
    let shard: number;
    try {
      shard = decodeMsgId(id).shard;
    } catch {
      d.telemetry.count('ack.unknown');
      return;
    }
    const targets = ackTargets(d.view.current, shard, d.ezone);
    const until = d.clock.now() + d.deadlineMs;
    for (const ezone of targets) {
      const left = until - d.clock.now();
      if (left <= 0) {
        d.telemetry.count('ack.forward_failed');
        throw new TacoError(
          'DEADLINE_EXCEEDED',
          `forwarding ACK ${id}: no time left after ${d.deadlineMs} ms`,
        );
      }
      try {
        await d.rpc.forwardAck(ezone, { app, id, status, at: d.clock.now() }, left);
        d.telemetry.count('ack.forwarded');
        return;
      } catch (e) {
        if (isNotFound(e)) continue;
        d.telemetry.count('ack.forward_failed');
        // The home re-sends after its ACK timeout, and the device ACKs that copy: nothing is lost.
        throw e;
      }
    }
    d.telemetry.count('ack.unknown');
  }

  /** An ACK forwarded by another ezone: applied if the message is here, else NOT_FOUND (never forwarded on). */
  async onForwarded(ack: ForwardedAckIn): Promise<void> {
    const { d } = this;
    if (!(ACK_STATUSES as readonly string[]).includes(ack.status))
      throw new TacoError(
        'INVALID_ARGUMENT',
        `forwarded ACK ${ack.id}: bad status ${JSON.stringify(ack.status)}`,
      );
    const rec = await d.messages.get(ack.id);
    if (!rec || rec.app !== ack.app)
      throw new TacoError('NOT_FOUND', `no message ${ack.id} in ezone ${d.ezone}`);
    d.telemetry.count('ack.forward_received');
    await d.applyLocal(rec.app, rec.device, rec.id, ack.status as AckStatus, rec);
  }
}
