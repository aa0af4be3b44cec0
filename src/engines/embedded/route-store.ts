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
  private readonly routes = new AppDeviceMap<Route>();
  /** app → user → devices. */
  private readonly users = new AppDeviceMap<Set<string>>();
  private readonly apps = new Map<string, Set<string>>();

  async put(route: Route): Promise<void> {
    this.putSync(route);
  }

  /** Synchronous form for in-process callers (replicator, simulator). Returns whether it applied. */
  putSync(route: Route): boolean {
    const cur = this.routes.get(route.app, route.device);
    if (cur && !isNewerRoute(route, cur)) return false;
    // Callers hand over a fresh object and never mutate it (contract); no defensive copy on the hot path.
    this.routes.set(route.app, route.device, route);
    if (route.user) {
      let set = this.users.get(route.app, route.user);
      if (!set) this.users.set(route.app, route.user, (set = new Set()));
      set.add(route.device);
    }
    let devs = this.apps.get(route.app);
    if (!devs) this.apps.set(route.app, (devs = new Set()));
    devs.add(route.device);
    return true;
  }

  async remove(app: string, device: string, session: string): Promise<void> {
    if (this.routes.get(app, device)?.session === session) this.routes.delete(app, device);
  }

  async get(app: string, device: string): Promise<Route | undefined> {
    return this.routes.get(app, device);
  }

  getSync(app: string, device: string): Route | undefined {
    return this.routes.get(app, device);
  }

  /** The dispatcher's synchronous view (see SYNC_ENGINE): only while no one has replaced `get`. */
  [SYNC_ENGINE](): SyncRouteStore | undefined {
    return this.get === MemoryRouteStore.prototype.get ? this : undefined;
  }

  async devicesOfUser(app: string, user: string): Promise<string[]> {
    return [...(this.users.get(app, user) ?? [])];
  }

  async devicesOfApp(app: string): Promise<string[]> {
    return [...(this.apps.get(app) ?? [])];
  }

  get size(): number {
    return this.routes.size;
  }
}
