/**
 * Gauges a node exposes on /metrics for live drills (`taco failover` reads
 * them): signed-in sessions, sessions whose region this ezone no longer serves
 * (still to drain), the push backlog, the shard map version this node has,
 * and route writes waiting to replicate. Read at scrape time (collect).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Session } from '../core/gateway.js';
import type { TacoNode } from '../core/node.js';
import type { Queue } from '../core/ports.js';
import type { RouteReplicator } from '../core/replication.js';
import { movedReason, type ShardMapView } from '../core/shard-map.js';

export interface DrillMetricsDeps {
  node: TacoNode;
  view: ShardMapView;
  regionOf: (s: Session) => string | undefined;
  queue: Queue;
  /** The push queues whose ready messages count as backlog. */
  pushQueues: readonly string[];
  replicator?: RouteReplicator | undefined;
}

export function registerDrillMetrics(registry: Registry, d: DrillMetricsDeps): void {
  const labels = { node: String(d.node.id.node), ezone: d.node.id.ezone };
  const labelNames = ['node', 'ezone'];
  const gauge = (name: string, help: string, read: () => number | Promise<number>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        try {
          this.set(labels, await read());
        } catch {
          // An engine that does not answer leaves the last value; the drill shows it as stale.
        }
      },
    });
  gauge('taco_sessions_online', 'signed-in sessions on this node', () => d.node.gateway.sessions);
  gauge('taco_sessions_misplaced', 'sessions whose region this ezone no longer serves (to drain)', () => {
    const m = d.view.current;
    const ez = d.node.id.ezone;
    return d.node.gateway.countSessions((s) => movedReason(m, ez, d.regionOf(s)) !== undefined);
  });
  gauge('taco_queue_backlog', 'push jobs waiting in this ezone’s queues', async () => {
    let n = 0;
    for (const q of d.pushQueues) n += (await d.queue.stats(q)).ready;
    return n;
  });
  gauge('taco_shard_map_version', 'version of the shard map this node uses', () => d.view.current.version);
  gauge(
    'taco_replication_pending',
    'route writes waiting to be published to peer ezones',
    () => d.replicator?.pending ?? 0,
  );
}
