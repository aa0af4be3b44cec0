/**
 * Engine outages for the simulator: wraps a port so that, while `down`,
 * every call rejects with ENGINE_UNAVAILABLE (what a dead Redis or MySQL
 * looks like to the core).
 */
import { TacoError } from '../../core/errors.js';

export interface OutageSwitch {
  down: boolean;
  name: string;
  /** Calls refused while down (the world turns this into `engine.unavailable` events). */
  refused: number;
}

export function withOutage<T extends object>(impl: T, sw: OutageSwitch): T {
  return new Proxy(impl, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (sw.down) {
          sw.refused++;
          return Promise.reject(
            new TacoError('ENGINE_UNAVAILABLE', `${sw.name} unreachable (simulated outage)`),
          );
        }
        return v.apply(target, args);
      };
    },
  });
}
