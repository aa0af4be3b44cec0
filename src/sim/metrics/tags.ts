/**
 * Tags (`{ezone: 'sh', gateway: '3'}`) identify the series of one metric.
 * A tag set is keyed by its sorted `k=v` pairs. Keys are cached per tags
 * object, so an engine that reuses one tags object per node pays for the
 * string only once.
 */
import { TacoError } from '../../core/errors.js';

export type Tags = Readonly<Record<string, string>>;

/** Gauges keep one combined series per subset of a tag set's keys (2^n), so n is capped. */
export const MAX_TAG_KEYS = 4;

const NO_TAGS: Tags = Object.freeze({});
const keyCache = new WeakMap<object, string>();

export function tagsKey(tags: Tags | undefined): string {
  if (!tags) return '';
  const cached = keyCache.get(tags);
  if (cached !== undefined) return cached;
  const key = Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(',');
  keyCache.set(tags, key);
  return key;
}

export function noTags(): Tags {
  return NO_TAGS;
}

/** True when every pair of `filter` is in `tags`. */
export function matches(tags: Tags, filter: Tags): boolean {
  for (const k in filter) if (tags[k] !== filter[k]) return false;
  return true;
}

/** Keys of every sub-tag-set of `tags` (including `''` for none and the full key). */
export function subsetKeys(tags: Tags): string[] {
  const keys = Object.keys(tags).sort();
  if (keys.length > MAX_TAG_KEYS) {
    throw new TacoError(
      'INTERNAL',
      `gauge tags may have at most ${MAX_TAG_KEYS} keys, got ${keys.join(', ')}`,
    );
  }
  const out: string[] = [];
  for (let mask = 0; mask < 1 << keys.length; mask++) {
    const parts: string[] = [];
    keys.forEach((k, i) => {
      if (mask & (1 << i)) parts.push(`${k}=${tags[k]}`);
    });
    out.push(parts.join(','));
  }
  return out;
}

/** `{ezone:sh}` for messages. */
export function formatTags(tags: Tags): string {
  const parts = Object.keys(tags).map((k) => `${k}:${tags[k]}`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
