/**
 * A tiny typed event emitter (node:events is not available in browsers).
 *
 * A listener that throws does not stop the other listeners nor the SDK's own
 * bookkeeping: the error is rethrown from a microtask, so it still surfaces as
 * an uncaught exception (like a DOM EventTarget's reportError) instead of
 * vanishing, but after the SDK has finished handling the frame.
 */
/** Event name → listener argument tuple. A mapped constraint, so plain interfaces qualify. */
type EventMap<E> = { [K in keyof E]: unknown[] };
type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<E extends EventMap<E>> {
  private readonly listeners: { [K in keyof E]?: Listener<E[K]>[] } = {};

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    let list = this.listeners[event];
    if (!list) this.listeners[event] = list = [];
    list.push(fn);
    return () => this.off(event, fn);
  }

  once<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  off<K extends keyof E>(event: K, fn: Listener<E[K]>): void {
    const list = this.listeners[event];
    if (!list) return;
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.listeners[event]?.length ?? 0;
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const list = this.listeners[event];
    if (!list || list.length === 0) return;
    // Copy: a listener may add or remove listeners while we iterate.
    for (const fn of list.slice()) {
      try {
        fn(...args);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}
