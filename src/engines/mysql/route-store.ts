/**
 * Routes on MySQL: the source of truth behind the Redis cache, and a route
 * store on its own when no Redis is configured. The last-writer-wins
 * compare-and-set is one `INSERT … ON DUPLICATE KEY UPDATE` whose every
 * assignment is guarded by "(updatedAt, ezone) is newer" — `updated_at` is
 * assigned last, so each guard still sees the old row. `remove` deletes only
 * the given session's row. Membership tables only grow, like the twin's sets.
 */
import type { Route, RouteStore } from '../../core/ports.js';
import { deadlineSignal } from '../deadline.js';
import type { MysqlDb } from './db.js';

interface RouteRow {
  app: string;
  device: string;
  user: string | null;
  loc: string | null;
  node: number | string;
  ezone: Buffer | string;
  session: string;
  updated_at: string;
}

function toRoute(r: RouteRow): Route {
  const route: Route = {
    app: r.app,
    device: r.device,
    node: Number(r.node),
    ezone: Buffer.isBuffer(r.ezone) ? r.ezone.toString('utf8') : r.ezone,
    session: r.session,
    updatedAt: Number(r.updated_at),
  };
  if (r.user !== null) route.user = r.user;
  if (r.loc !== null) route.loc = r.loc;
  return route;
}

const NEWER =
  '(VALUES(updated_at) > updated_at OR (VALUES(updated_at) = updated_at AND VALUES(ezone) > ezone))';
const ROUTE_COLUMNS = 'app, device, user, loc, node, ezone, session, updated_at';

export interface MysqlRouteStoreOptions {
  /** Deadline of one call. */
  opTimeoutMs?: number;
}

export class MysqlRouteStore implements RouteStore {
  private readonly opTimeoutMs: number;

  constructor(
    private readonly db: MysqlDb,
    opts: MysqlRouteStoreOptions = {},
  ) {
    this.opTimeoutMs = opts.opTimeoutMs ?? 5_000;
  }

  private async q<T>(what: string, sql: string, values: unknown[]): Promise<T> {
    const d = deadlineSignal(this.opTimeoutMs, `route store (MySQL): ${what}`);
    try {
      return await this.db.query<T>(sql, values, { signal: d.signal });
    } finally {
      d.dispose();
    }
  }

  async put(route: Route): Promise<void> {
    await this.putIfNewer(route);
  }

  /** Returns whether the route applied. */
  async putIfNewer(route: Route): Promise<boolean> {
    const t = (n: string) => this.db.t(n);
    const r = await this.q<{ affectedRows: number }>(
      'put',
      `INSERT INTO ${t('routes')} (${ROUTE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE
           user = IF(${NEWER}, VALUES(user), user),
           loc = IF(${NEWER}, VALUES(loc), loc),
           node = IF(${NEWER}, VALUES(node), node),
           session = IF(${NEWER}, VALUES(session), session),
           ezone = IF(${NEWER}, VALUES(ezone), ezone),
           updated_at = IF(${NEWER}, VALUES(updated_at), updated_at)`,
      [
        route.app,
        route.device,
        route.user ?? null,
        route.loc ?? null,
        route.node,
        route.ezone,
        route.session,
        route.updatedAt,
      ],
    );
    // Without CLIENT_FOUND_ROWS (db.ts): 1 = inserted, 2 = updated, 0 = an older or equal write, ignored.
    const applied = r.affectedRows > 0;
    if (!applied) return false;
    await this.q(
      'membership',
      `INSERT INTO ${t('app_devices')} (app, device, first_seen) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE app = app`,
      [route.app, route.device, route.updatedAt],
    );
    if (route.user !== undefined)
      await this.q(
        'membership',
        `INSERT INTO ${t('user_devices')} (app, user, device) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE app = app`,
        [route.app, route.user, route.device],
      );
    return true;
  }

  async remove(app: string, device: string, session: string): Promise<void> {
    await this.q(
      'remove',
      `DELETE FROM ${this.db.t('routes')} WHERE app = ? AND device = ? AND session = ?`,
      [app, device, session],
    );
  }

  async get(app: string, device: string): Promise<Route | undefined> {
    const rows = await this.q<RouteRow[]>(
      'get',
      `SELECT ${ROUTE_COLUMNS} FROM ${this.db.t('routes')} WHERE app = ? AND device = ?`,
      [app, device],
    );
    return rows[0] ? toRoute(rows[0]) : undefined;
  }

  async devicesOfUser(app: string, user: string): Promise<string[]> {
    const rows = await this.q<{ device: string }[]>(
      'devices of user',
      `SELECT device FROM ${this.db.t('user_devices')} WHERE app = ? AND user = ?`,
      [app, user],
    );
    return rows.map((r) => r.device);
  }

  async devicesOfApp(app: string): Promise<string[]> {
    const rows = await this.q<{ device: string }[]>(
      'devices of app',
      `SELECT device FROM ${this.db.t('app_devices')} WHERE app = ?`,
      [app],
    );
    return rows.map((r) => r.device);
  }

  // ---------- bulk reads for rebuilding the Redis cache (keyset pagination) ----------

  async scanRoutes(after: { app: string; device: string } | undefined, limit: number): Promise<Route[]> {
    const rows = await this.q<RouteRow[]>(
      'scan routes',
      `SELECT ${ROUTE_COLUMNS} FROM ${this.db.t('routes')}
        WHERE (app, device) > (?, ?) ORDER BY app, device LIMIT ?`,
      [after?.app ?? '', after?.device ?? '', limit],
    );
    return rows.map(toRoute);
  }

  async scanUserDevices(
    after: { app: string; user: string; device: string } | undefined,
    limit: number,
  ): Promise<{ app: string; user: string; device: string }[]> {
    return this.q(
      'scan user devices',
      `SELECT app, user, device FROM ${this.db.t('user_devices')}
        WHERE (app, user, device) > (?, ?, ?) ORDER BY app, user, device LIMIT ?`,
      [after?.app ?? '', after?.user ?? '', after?.device ?? '', limit],
    );
  }

  async scanAppDevices(
    after: { app: string; device: string } | undefined,
    limit: number,
  ): Promise<{ app: string; device: string }[]> {
    return this.q(
      'scan app devices',
      `SELECT app, device FROM ${this.db.t('app_devices')}
        WHERE (app, device) > (?, ?) ORDER BY app, device LIMIT ?`,
      [after?.app ?? '', after?.device ?? '', limit],
    );
  }
}
