/**
 * A value that comes and goes (the current publish channel): `wait` resolves
 * with it as soon as it is there, or rejects when the caller's signal aborts —
 * removing its waiter, so an outage leaves nothing behind.
 */
import { abortReason } from '../deadline.js';

export class Gate<T> {
  private value: T | undefined;
  private readonly waiters = new Set<(v: T) => void>();

  get current(): T | undefined {
    return this.value;
  }

  open(v: T): void {
    this.value = v;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w(v);
  }

  /** Closes the gate if `v` (when given) is still the value. */
  close(v?: T): void {
    if (v === undefined || this.value === v) this.value = undefined;
  }

  wait(signal: AbortSignal, what: string): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(abortReason(signal, what));
      };
      const waiter = (v: T) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      if (signal.aborted) return onAbort();
      this.waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
