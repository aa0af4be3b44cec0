/**
 * Deadlines and cancellation for the production engines. Every call that
 * leaves the process goes through one of these, so none waits without bound;
 * each timer is cleared and each abort listener removed as soon as the race
 * settles, so nothing outlives the call that created it.
 */
import { TacoError } from '../core/errors.js';

/** The error an aborted signal stands for: its reason when that is a TacoError, else CANCELLED. */
export function abortReason(signal: AbortSignal, what: string): TacoError {
  const r: unknown = signal.reason;
  if (r instanceof TacoError) return r;
  return new TacoError('CANCELLED', `${what}: cancelled`, undefined, { cause: r });
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortReason(signal, what);
}

function deadlineError(what: string, ms: number): TacoError {
  return new TacoError('DEADLINE_EXCEEDED', `${what}: no answer within ${ms} ms`, { timeoutMs: ms });
}

/**
 * Settles like `p`, unless `ms` passes first (DEADLINE_EXCEEDED) or `signal`
 * aborts first (its reason). `ms` may be Infinity (no timer). `onLose` runs
 * when the deadline or the signal wins, so the caller can clean up what `p`
 * still holds (a connection, a half-sent command).
 */
export function withDeadline<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  signal?: AbortSignal,
  onLose?: (e: TacoError) => void,
): Promise<T> {
  if (signal?.aborted) {
    p.catch(() => {});
    const e = abortReason(signal, what);
    onLose?.(e);
    return Promise.reject(e);
  }
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      done = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const lose = (e: TacoError) => {
      if (done) return;
      finish();
      p.catch(() => {});
      onLose?.(e);
      reject(e);
    };
    const onAbort = () => lose(abortReason(signal!, what));
    if (Number.isFinite(ms)) timer = setTimeout(() => lose(deadlineError(what, ms)), Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        if (done) return;
        finish();
        resolve(v);
      },
      (e: unknown) => {
        if (done) return;
        finish();
        reject(e);
      },
    );
  });
}

export interface OwnedSignal {
  readonly signal: AbortSignal;
  /** Clears the timer and the link to the parent; call it when the operation ends. */
  dispose(): void;
}

/** A signal that aborts after `ms` (reason DEADLINE_EXCEEDED) or when `parent` aborts. */
export function deadlineSignal(ms: number, what: string, parent?: AbortSignal): OwnedSignal {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onParent = () => ctl.abort(parent!.reason);
  if (parent?.aborted) ctl.abort(parent.reason);
  else {
    parent?.addEventListener('abort', onParent, { once: true });
    if (Number.isFinite(ms)) timer = setTimeout(() => ctl.abort(deadlineError(what, ms)), Math.max(0, ms));
  }
  return {
    signal: ctl.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (the timer is cleared either way). */
export function delay(ms: number, signal: AbortSignal, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal, what));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal, what));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Masks the password of a connection URL for logs and `describe`. */
export function maskUrl(url: string): string {
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^:@/]*):([^@/]*)@/i,
    (_m, scheme, user) => `${scheme}${user}:***@`,
  );
}
