/** Metrics the simulated world records beyond the core's own (registered so SLOs may name them). */
import type { MetricDef } from './metrics/registry.js';

export const WORLD_METRICS: readonly MetricDef[] = [
  { name: 'sessions.online', kind: 'gauge', unit: 'sessions', description: 'signed-in sessions, per ezone' },
  {
    name: 'gateway.closewait',
    kind: 'gauge',
    unit: 'connections',
    description: 'half-open or unreaped connections held by gateways',
  },
  {
    name: 'gateway.closewait.seen',
    kind: 'event',
    unit: 'events',
    description: 'a gateway held a half-open connection',
  },
  {
    name: 'reconnect.attempts',
    kind: 'counter',
    unit: 'attempts',
    description: 'client connection attempts',
  },
  {
    name: 'reconnect.attempts_per_s',
    kind: 'gauge',
    unit: 'attempts/s',
    description: 'client connection attempts in the last second',
  },
  {
    name: 'client.disconnected',
    kind: 'counter',
    unit: 'clients',
    description: 'clients that lost their session',
  },
  {
    name: 'push.shown',
    kind: 'counter',
    unit: 'messages',
    description: 'messages handed to the app (after SDK dedup)',
  },
  {
    name: 'push.duplicate',
    kind: 'counter',
    unit: 'messages',
    description: 'copies the SDK dropped as duplicates',
  },
  {
    name: 'push.rejected',
    kind: 'counter',
    unit: 'messages',
    description: 'pushes the API refused (not accepted)',
  },
  {
    name: 'push.in_flight',
    kind: 'gauge',
    unit: 'messages',
    description: 'messages neither settled nor past their TTL at the end',
  },
  {
    name: 'signin.shed',
    kind: 'counter',
    unit: 'sign-ins',
    description: 'sign-ins turned away (4503/4429) by admission control',
  },
  {
    name: 'upstream.delivered',
    kind: 'counter',
    unit: 'messages',
    description: 'upstream messages read by the business service',
  },
  {
    name: 'rpc.timeouts',
    kind: 'counter',
    unit: 'calls',
    description: 'node-to-node calls that hit their deadline',
  },
  {
    name: 'rpc.queued',
    kind: 'counter',
    unit: 'calls',
    description: 'calls that waited behind the stream quota',
  },
  {
    name: 'rpc.quota_hit',
    kind: 'event',
    unit: 'events',
    description: 'calls waited behind the max-concurrent-streams quota',
  },
  {
    name: 'queue.disk_mode',
    kind: 'event',
    unit: 'events',
    description: 'the broker paged to disk (backlog past the threshold)',
  },
  {
    name: 'queue.consumers',
    kind: 'gauge',
    unit: 'consumers',
    description: 'consumer slots across dispatchers',
  },
  {
    name: 'auth.refresh',
    kind: 'event',
    unit: 'events',
    description: 'an app-secret cache entry was refreshed',
  },
  {
    name: 'engine.unavailable',
    kind: 'event',
    unit: 'events',
    description: 'calls to an engine were refused (outage)',
  },
  { name: 'gateway.crashed', kind: 'event', unit: 'events', description: 'a gateway process died' },
];
