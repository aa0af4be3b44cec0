/**
 * Engine outages for the simulator: wraps a port so that, while `down`,
 * every call rejects with ENGINE_UNAVAILABLE (what a dead Redis or MySQL
 * looks like to the core). The wrappers are built once per method, so a call
 * costs one extra function hop and no allocation.
 */
import { SYNC_ENGINE } from '../../core/dispatcher.js';
import { TacoError } from '../../core/errors.js';

export interface OutageSwitch {
  down: boolean;
  name: string;
  /** Calls refused while down (the world turns this into `engine.unavailable` events). */
  refused: number;
}

function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (let p: object | null = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      if (k !== 'constructor' && typeof (obj as Record<string, unknown>)[k] === 'function') names.add(k);
    }
  }
  return [...names];
}

export function withOutage<T extends object>(impl: T, sw: OutageSwitch): T {
  const wrapper = Object.create(impl) as Record<string, unknown>;
  for (const name of methodNames(impl)) {
    const fn = (impl as Record<string, (...a: unknown[]) => unknown>)[name]!;
    // Fixed arity (no rest array per call): port methods take at most five arguments, and an
    // explicit `undefined` means the same to them as a missing one.
    wrapper[name] = (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) => {
      if (sw.down) {
        sw.refused++;
        return Promise.reject(
          new TacoError('ENGINE_UNAVAILABLE', `${sw.name} unreachable (simulated outage)`),
        );
      }
      return fn.call(impl, a, b, c, d, e);
    };
  }
  // The dispatcher's synchronous view (SYNC_ENGINE) of the engine, while the switch is up: the
  // dispatcher asks for it on every call, so an outage turns it off for the next call, which then
  // takes the asynchronous path through the wrappers above (and is refused). A synchronous call
  // never spans an outage's start: nothing else runs while it does.
  const view = (impl as { [SYNC_ENGINE]?: () => unknown })[SYNC_ENGINE];
  if (view !== undefined) {
    wrapper[SYNC_ENGINE as unknown as string] = () => (sw.down ? undefined : view.call(impl));
  }
  return wrapper as T;
}
