/**
 * Shard of a device (SPEC §1): from its location key when it has one, else a
 * hash of its user id, else of its device id. Stable across processes and
 * languages (FNV-1a over UTF-16 code units).
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface ShardKey {
  loc?: string | undefined;
  user?: string | undefined;
  device: string;
}

export function shardOf(key: ShardKey, shards: number): number {
  const basis = key.loc ? `loc:${key.loc}` : key.user ? `user:${key.user}` : `dev:${key.device}`;
  return fnv1a32(basis) % shards;
}
