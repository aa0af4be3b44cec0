/**
 * Shared pieces of the engine contract suites. A suite is a function that
 * registers node:test tests for one port against any implementation, given a
 * factory; the embedded twin, the production engine and the simulator's twin
 * all run the same suite (Centrifuge-style), so they cannot drift apart.
 */

/** What a factory hands a suite: the implementation, and how to clean up after it. */
export interface Subject<T> {
  subject: T;
  cleanup(): Promise<void>;
}

export type Factory<T> = () => Promise<Subject<T>>;

export interface ContractOptions {
  /** Skip the whole suite with this reason (e.g. the service is not running). */
  skip?: string | false | undefined;
  /** Timeout of the whole suite in ms (default 60 s). */
  timeoutMs?: number;
}

/** Polls `cond` every `everyMs` until it holds or `timeoutMs` passes (then rejects with `what`). */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 10,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

let counter = 0;
/** A name unique within this process, for ids that must not collide between tests. */
export function uniq(base: string): string {
  return `${base}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

let seq = 0;
/** A fresh message id (decimal u64, increasing) so stores that require SPEC §2 ids accept it. */
export function newMessageId(): string {
  const t = BigInt(Date.now() - Date.UTC(2024, 0, 1));
  return ((t << 23n) | BigInt(seq++ & 0x7fffff)).toString();
}
