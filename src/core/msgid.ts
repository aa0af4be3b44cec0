/**
 * Message ids (SPEC §2): decimal u64,
 * `41 bits ms since 2024-01-01Z | 5 bits shard | 8 bits node | 10 bits sequence`.
 * K-sortable, and any ezone can find a message's home shard from its id alone.
 */
import { TacoError } from './errors.js';

export const MSGID_EPOCH_MS = Date.UTC(2024, 0, 1);
const SEQ_BITS = 10n;
const NODE_BITS = 8n;
const SHARD_BITS = 5n;
const MAX_SEQ = (1 << 10) - 1;
export const MAX_NODE = (1 << 8) - 1;
export const MAX_SHARD = (1 << 5) - 1;
const MAX_TIME = (1n << 41n) - 1n;

export interface MsgIdParts {
  timeMs: number;
  shard: number;
  node: number;
  seq: number;
}

export function encodeMsgId(p: MsgIdParts): string {
  const t = BigInt(p.timeMs - MSGID_EPOCH_MS);
  if (t < 0n || t > MAX_TIME) throw new TacoError('BAD_INPUT', `message id time out of range: ${p.timeMs}`);
  if (p.shard < 0 || p.shard > MAX_SHARD) throw new TacoError('BAD_INPUT', `shard out of range: ${p.shard}`);
  if (p.node < 0 || p.node > MAX_NODE) throw new TacoError('BAD_INPUT', `node out of range: ${p.node}`);
  if (p.seq < 0 || p.seq > MAX_SEQ) throw new TacoError('BAD_INPUT', `sequence out of range: ${p.seq}`);
  const v =
    (t << (SHARD_BITS + NODE_BITS + SEQ_BITS)) |
    (BigInt(p.shard) << (NODE_BITS + SEQ_BITS)) |
    (BigInt(p.node) << SEQ_BITS) |
    BigInt(p.seq);
  return v.toString(10);
}

const U64_MAX = (1n << 64n) - 1n;

const DECIMAL_U64_SYNTAX = /^[0-9]{1,20}$/;

/** Whether `id` is written like a message id (decimal, at most 20 digits): a cheap check before a store lookup. */
export function isMsgIdSyntax(id: unknown): id is string {
  return typeof id === 'string' && DECIMAL_U64_SYNTAX.test(id);
}

export function decodeMsgId(id: string): MsgIdParts {
  if (!isMsgIdSyntax(id)) {
    throw new TacoError(
      'BAD_INPUT',
      `message id must be a decimal unsigned 64-bit integer, got ${JSON.stringify(id)}`,
    );
  }
  const v = BigInt(id);
  if (v > U64_MAX) throw new TacoError('BAD_INPUT', `message id exceeds 64 bits: ${id}`);
  return {
    timeMs: Number(v >> (SHARD_BITS + NODE_BITS + SEQ_BITS)) + MSGID_EPOCH_MS,
    shard: Number((v >> (NODE_BITS + SEQ_BITS)) & 31n),
    node: Number((v >> SEQ_BITS) & 255n),
    seq: Number(v & 1023n),
  };
}

/** Shard of a message id without a full decode (hot path for ACK routing). */
export function shardOfMsgId(id: string): number {
  return decodeMsgId(id).shard;
}

/**
 * Per-node id generator. When 1,024 ids are used within one millisecond it
 * borrows the next millisecond, so ids stay unique and ordered.
 */
export class MsgIdGenerator {
  private lastMs = 0;
  private seq = 0;

  constructor(
    private readonly node: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(node) || node < 0 || node > MAX_NODE) {
      throw new TacoError('BAD_INPUT', `node id must be an integer 0..${MAX_NODE}, got ${node}`);
    }
  }

  next(shard: number): string {
    const now = this.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else if (this.seq >= MAX_SEQ) {
      this.lastMs += 1;
      this.seq = 0;
    } else {
      this.seq += 1;
    }
    return encodeMsgId({ timeMs: this.lastMs, shard, node: this.node, seq: this.seq });
  }
}
