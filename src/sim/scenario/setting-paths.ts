/**
 * Setting paths of variants (`set: {clients.reconnect.jitter: none}`): dotted
 * paths over the keys of the scenario file, with `[n]` or `.n` for list items
 * (`faults[1].for`). A path is known when the schema has that field; inside a
 * map of names (ezones) the name must already exist, so a typo cannot add an
 * ezone. `name` and `variants` cannot be set.
 */
import type { z } from 'zod';

export type Segment = string | number;

/** `faults[1].for` → ['faults', 1, 'for']; null when malformed. */
export function parseSettingPath(text: string): Segment[] | null {
  const out: Segment[] = [];
  for (const part of text.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return null;
    const [, head, indexes] = m;
    if (head === '' && (indexes === '' || out.length === 0)) return null;
    if (head !== '') out.push(/^\d+$/.test(head!) ? Number(head) : head!);
    for (const idx of indexes!.matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

interface Def {
  type: string;
  innerType?: ZodLike;
  in?: ZodLike;
  shape?: Record<string, ZodLike>;
  valueType?: ZodLike;
  element?: ZodLike;
  options?: ZodLike[];
}
interface ZodLike {
  _zod: { def: Def };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

function unwrap(s: ZodLike): ZodLike {
  for (;;) {
    const d = s._zod.def;
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}

function knows(schema: ZodLike, path: readonly Segment[], raw: unknown): boolean {
  if (path.length === 0) return true;
  const s = unwrap(schema);
  const d = s._zod.def;
  const [seg, ...rest] = path;
  const rawChild =
    raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)[seg as string] : undefined;
  switch (d.type) {
    case 'object':
      return typeof seg === 'string' && Object.hasOwn(d.shape!, seg) && knows(d.shape![seg]!, rest, rawChild);
    case 'record':
      return rawChild !== undefined && knows(d.valueType!, rest, rawChild);
    case 'array':
      return (
        typeof seg === 'number' && Array.isArray(raw) && seg < raw.length && knows(d.element!, rest, rawChild)
      );
    case 'union':
      return d.options!.some((o) => knows(o, path, raw));
    default:
      return false;
  }
}

const NOT_SETTABLE = new Set(['name', 'variants']);

/** Why `path` cannot be set in the document `raw` validated by `schema`, or null when it can. */
export function settingPathProblem(schema: z.ZodType, path: readonly Segment[], raw: unknown): string | null {
  if (path.length === 0) return 'empty setting path';
  if (NOT_SETTABLE.has(String(path[0]))) return `${path[0]} cannot be changed by a variant`;
  return knows(schema as unknown as ZodLike, path, raw) ? null : 'unknown setting path';
}

/** Sets `value` at `path` in `doc`, creating maps on the way (for sections left to their defaults). */
export function setIn(doc: Record<string, unknown>, path: readonly Segment[], value: unknown): void {
  let node: Record<string | number, unknown> = doc;
  for (const seg of path.slice(0, -1)) {
    const next = node[seg];
    if (next === null || typeof next !== 'object') node[seg] = {};
    node = node[seg] as Record<string | number, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
