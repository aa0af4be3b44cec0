/** In-process route store: the embedded twin of the Redis route store. */
import { AppDeviceMap } from '../../core/app-device-map.js';
import { SYNC_ENGINE, type SyncRouteStore } from '../../core/dispatcher.js';
import type { Route, RouteStore } from '../../core/ports.js';

/** Last writer wins by (updatedAt, ezone), shared by every route store twin and the replicator. */
export function isNewerRoute(
  a: Pick<Route, 'updatedAt' | 'ezone'>,
  b: Pick<Route, 'updatedAt' | 'ezone'>,
): boolean {
  return a.updatedAt > b.updatedAt || (a.updatedAt === b.updatedAt && a.ezone > b.ezone);
}

export class MemoryRouteStore implements RouteStore, SyncRouteStore {
  /**
   * Every device that ever signed in: its route, or `null` once the route is removed. A removed
   * route stays as a tombstone because `devicesOfApp` lists every device that signed in, and one
   * map serves both: a sign-in writes one 1.6M-entry hash table instead of two (the route map and
   * a set of the app's devices, whose insert was ~3 % of the simulator's run).
   */
  private readonly routes = new AppDeviceMap<Route | null>();
  private live = 0;
  /** app → user → devices. */
  private readonly users = new AppDeviceMap<Set<string>>();

  async put(route: Route): Promise<void> {
    this.putSync(route);
  }

  /** Synchronous form for in-process callers (replicator, simulator). Returns whether it applied. */
  putSync(route: Route): boolean {
    const cur = this.routes.get(route.app, route.device);
    if (cur && !isNewerRoute(route, cur)) return false;
    // Callers hand over a fresh object and never mutate it (contract); no defensive copy on the hot path.
    this.routes.set(route.app, route.device, route);
    if (!cur) this.live++;
    if (route.user) {
      let set = this.users.get(route.app, route.user);
      if (!set) this.users.set(route.app, route.user, (set = new Set()));
      set.add(route.device);
    }
    return true;
  }

  async remove(app: string, device: string, session: string): Promise<void> {
    if (this.routes.get(app, device)?.session === session) {
      this.routes.set(app, device, null);
      this.live--;
    }
  }

  async get(app: string, device: string): Promise<Route | undefined> {
    return this.routes.get(app, device) ?? undefined;
  }

  getSync(app: string, device: string): Route | undefined {
    return this.routes.get(app, device) ?? undefined;
  }

  /** The dispatcher's synchronous view (see SYNC_ENGINE): only while no one has replaced `get`. */
  [SYNC_ENGINE](): SyncRouteStore | undefined {
    return this.get === MemoryRouteStore.prototype.get ? this : undefined;
  }

  async devicesOfUser(app: string, user: string): Promise<string[]> {
    return [...(this.users.get(app, user) ?? [])];
  }

  async devicesOfApp(app: string): Promise<string[]> {
    return this.routes.devicesOfApp(app);
  }

  get size(): number {
    return this.live;
  }
}
