/**
 * Metric names known before any run: those the core reports through its
 * Telemetry port (src/core), and those the simulator's world is expected to
 * report, which the HTML report charts and the example scenarios use. The
 * engine registers both (defaultRegistry) and adds its own.
 */
import { type MetricDef, MetricRegistry } from './registry.js';

const counter = (name: string, description: string, unit = 'events'): MetricDef => ({
  name,
  kind: 'counter',
  unit,
  description,
});

/** What src/core reports (grep `telemetry.` there when adding one). */
export const CORE_METRICS: readonly MetricDef[] = [
  counter('push.accepted', 'push requests accepted by the API', 'messages'),
  counter('push.delivered', 'messages ACKed by the device over the long connection', 'messages'),
  { name: 'push.latency', kind: 'histogram', unit: 'ms', description: 'accept → first ACK of a message' },
  counter('push.offline', 'messages whose device had no session', 'messages'),
  counter('push.retry', 'delivery retries', 'messages'),
  counter('push.fallback', 'messages sent through a third-party channel', 'messages'),
  counter('push.fallback_failed', 'third-party sends that failed', 'messages'),
  counter('push.expired', 'messages expired before delivery', 'messages'),
  counter('dispatch.deliver_error', 'failed node-to-node deliveries', 'calls'),
  counter('rpc.breaker_open', 'peer breakers opened after consecutive failed calls'),
  counter('rpc.breaker_closed', 'peer breakers closed by a successful probe'),
  counter('rpc.breaker_rejected', 'calls failed at once because their peer’s breaker was open', 'calls'),
  {
    name: 'dispatch.consumers',
    kind: 'gauge',
    unit: 'consumers',
    description: 'queue consumers of a dispatcher',
  },
  counter('ack.unknown', 'ACKs for unknown messages'),
  counter('ack.failed', 'ACKs that could not be recorded'),
  counter('signin.ok', 'sessions signed in'),
  counter('signin.rejected', 'sign-ins refused by admission control'),
  counter('signin.failed', 'sign-ins refused (token, app, errors)'),
  counter('signin.redelivery_failed', 'pending messages not re-sent at sign-in'),
  counter('session.replaced', 'sessions replaced by a newer one of the same device'),
  counter('session.reaped', 'silent or half-open sessions closed by the wheel'),
  counter('config.lookup_failed', 'app config lookups that failed at sign-in'),
  counter('route.write_failed', 'route writes that failed'),
  counter('route.remove_failed', 'route removals that failed'),
  counter('register.failed', 'third-party token registrations that failed'),
  {
    name: 'gateway.connections',
    kind: 'gauge',
    unit: 'connections',
    description: 'open sessions of a gateway (tags: ezone, gateway)',
    combine: 'sum',
  },
];

/** What the simulated world reports; the report's charts use these names. */
export const SIM_METRICS: readonly MetricDef[] = [
  counter('push.lost', 'messages accepted and never delivered nor failed over by the end', 'messages'),
  {
    name: 'reconnect.recovery',
    kind: 'histogram',
    unit: 'ms',
    description: 'a client losing its connection → signed in again',
  },
  {
    name: 'reconnect.storm',
    kind: 'event',
    unit: 'events',
    description: 'many clients reconnecting at once',
  },
  {
    name: 'queue.backlog',
    kind: 'gauge',
    unit: 'messages',
    description: 'push jobs waiting in the queue (tags: ezone)',
    combine: 'sum',
  },
  {
    name: 'rpc.pending',
    kind: 'gauge',
    unit: 'calls',
    description: 'node-to-node calls in flight or waiting for a stream (tags: ezone)',
    combine: 'sum',
  },
  {
    name: 'gateway.memory',
    kind: 'gauge',
    unit: 'bytes',
    description: 'memory of a gateway process (tags: ezone, gateway)',
    combine: 'max',
  },
  { name: 'fault.start', kind: 'event', unit: 'events', description: 'a fault was injected' },
  { name: 'fault.end', kind: 'event', unit: 'events', description: 'a fault healed' },
];

/** A registry holding CORE_METRICS and SIM_METRICS. */
export function defaultRegistry(): MetricRegistry {
  return new MetricRegistry().registerAll(CORE_METRICS).registerAll(SIM_METRICS);
}
