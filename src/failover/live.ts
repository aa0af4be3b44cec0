/**
 * Live metrics of a drill: scrapes every node's /metrics on an interval and
 * records what it sees into the simulator's MetricsRecorder (1 s buckets on
 * wall time), so a drill's SLOs use the scenarios' grammar and evaluator
 * (src/sim/slo) unchanged: counters become increments between scrapes,
 * Prometheus histogram buckets become observations at their upper bound (a
 * latency is never under-reported), gauges are summed per ezone.
 *
 * Metric names are the simulator's where they exist (push.latency,
 * push.delivered, signin.ok, sessions.online, queue.backlog…), plus drill
 * events: `map.converged` (every node uses the applied version) and
 * `drain.complete` (converged and no node holds a session whose region its
 * ezone no longer serves).
 */
import { CORE_METRICS } from '../sim/metrics/catalogue.js';
import { MetricsRecorder } from '../sim/metrics/recorder.js';
import { type MetricDef, MetricRegistry } from '../sim/metrics/registry.js';
import type { AdminClient } from './admin-client.js';
import { type PromSample, parsePromText } from './prom-text.js';

const counter = (name: string, description: string, unit = 'events'): MetricDef => ({
  name,
  kind: 'counter',
  unit,
  description,
});

/** Counters followed on every node: simulator name → Prometheus name. */
export const LIVE_COUNTERS: readonly MetricDef[] = [
  counter('push.accepted', 'pushes accepted by the APIs', 'messages'),
  counter('push.delivered', 'messages ACKed (first ACK) in their home ezone', 'messages'),
  counter('push.expired', 'messages expired before delivery', 'messages'),
  counter('push.retry', 'delivery retries', 'messages'),
  counter('push.handed_off', 'pushes handed to their shard’s ezone', 'messages'),
  counter('push.handoff_failed', 'hand-offs that failed (processed where accepted)', 'messages'),
  counter('push.handoff_received', 'pushes taken from another ezone', 'messages'),
  counter('ack.forwarded', 'ACKs forwarded to the message’s home ezone'),
  counter('ack.forward_failed', 'ACKs that could not be forwarded'),
  counter('ack.forward_received', 'ACKs taken from another ezone'),
  counter('ack.unknown', 'ACKs for messages no ezone holds'),
  counter('signin.ok', 'sessions signed in'),
  counter('signin.rejected', 'sign-ins turned away by admission control (4503 retry-after)'),
  counter('signin.failed', 'sign-ins refused'),
  counter('signin.moved', 'sign-ins sent to another ezone (their region moved)'),
  counter('replication.applied', 'route writes applied from other ezones'),
  counter('replication.publish_failed', 'route writes that could not be published yet'),
];

const gauge = (
  name: string,
  unit: string,
  description: string,
  combine: 'sum' | 'max' = 'sum',
): MetricDef => ({
  name,
  kind: 'gauge',
  unit,
  description,
  combine,
});

export const LIVE_GAUGES: readonly MetricDef[] = [
  gauge('sessions.online', 'sessions', 'signed-in sessions (tags: ezone)'),
  gauge('sessions.misplaced', 'sessions', 'sessions whose region their ezone no longer serves (tags: ezone)'),
  gauge('queue.backlog', 'messages', 'push jobs waiting (tags: ezone)'),
  gauge('replication.pending', 'writes', 'route writes waiting to replicate (tags: ezone)'),
  gauge('signin.rate', 'sign-ins/s', 'sign-ins per second (tags: ezone)'),
  gauge('shard_map.version', 'version', 'shard map version in use (max over nodes; tags: ezone)', 'max'),
  gauge('nodes.unreachable', 'nodes', 'nodes whose /metrics did not answer'),
  gauge('push.success', 'ratio', 'delivered / (delivered + expired) over the last 10 s'),
];

export const LIVE_EVENTS: readonly MetricDef[] = [
  {
    name: 'map.converged',
    kind: 'event',
    unit: 'events',
    description: 'every node uses the applied shard map version',
  },
  {
    name: 'drain.complete',
    kind: 'event',
    unit: 'events',
    description: 'converged, and no session left to move',
  },
  { name: 'fault.start', kind: 'event', unit: 'events', description: 'the drill’s change was applied' },
];

/** Names a drill SLO may use. */
export function liveRegistry(): MetricRegistry {
  const latency = CORE_METRICS.find((d) => d.name === 'push.latency')!;
  return new MetricRegistry()
    .registerAll(LIVE_COUNTERS)
    .registerAll([latency])
    .registerAll(LIVE_GAUGES)
    .registerAll(LIVE_EVENTS);
}

const promName = (name: string) => `taco_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;

export interface LiveNode {
  url: string;
  ezone: string;
  node?: number | undefined;
}

export interface EzoneView {
  ezone: string;
  nodes: number;
  reachable: number;
  sessions: number;
  misplaced: number;
  backlog: number;
  signinPerSec: number;
  mapVersions: number[];
}

export interface LiveSnapshot {
  elapsedMs: number;
  ezones: EzoneView[];
  acceptedPerSec: number;
  deliveredPerSec: number;
  /** delivered / (delivered + expired) over the last 10 s; null without traffic. */
  success: number | null;
  p99Ms: number | null;
  unreachable: string[];
  converged: boolean;
  drained: boolean;
}

interface Prev {
  at: number;
  counters: Map<string, number>;
  buckets: Map<string, number>;
}

export class LiveWatch {
  readonly recorder: MetricsRecorder;
  readonly startMs: number;
  private readonly prev = new Map<string, Prev>();
  private expectVersion: number | undefined;
  private convergedSeen = false;
  private drainedSeen = false;
  last: LiveSnapshot | undefined;

  constructor(
    private readonly client: AdminClient,
    readonly nodes: LiveNode[],
    now = Date.now(),
  ) {
    this.startMs = now;
    this.recorder = new MetricsRecorder({ registry: liveRegistry(), startMs: now, bucketMs: 1_000 });
  }

  /** From now on, look for every node using `version`, then for no session left to move. */
  expect(version: number): void {
    this.expectVersion = version;
    this.convergedSeen = false;
    this.drainedSeen = false;
  }

  /** Marks the drill's change in the recording (SLO windows `within D after change` start here). */
  markChange(kind: string, now = Date.now()): number {
    this.recorder.setTime(Math.max(now, this.startMs + this.recorder.elapsedMs));
    this.recorder.event('fault.start', { kind });
    return this.recorder.elapsedMs;
  }

  /** Scrapes every node once and records what changed since the last scrape. */
  async scrape(now = Date.now()): Promise<LiveSnapshot> {
    const texts = await Promise.all(
      this.nodes.map((n) => this.client.metrics(n.url).then(parsePromText, () => undefined)),
    );
    const at = Math.max(now, this.startMs + this.recorder.elapsedMs);
    const rec = this.recorder;
    rec.setTime(at);
    const byEzone = new Map<string, EzoneView>();
    const unreachable: string[] = [];
    let accepted = 0;
    let delivered = 0;
    this.nodes.forEach((n, i) => {
      const ez =
        byEzone.get(n.ezone) ??
        ({
          ezone: n.ezone,
          nodes: 0,
          reachable: 0,
          sessions: 0,
          misplaced: 0,
          backlog: 0,
          signinPerSec: 0,
          mapVersions: [],
        } as EzoneView);
      byEzone.set(n.ezone, ez);
      ez.nodes++;
      const samples = texts[i];
      if (!samples) {
        unreachable.push(n.url);
        return;
      }
      ez.reachable++;
      const g = (name: string) => samples.find((s) => s.name === name)?.value;
      ez.sessions += g('taco_sessions_online') ?? 0;
      ez.misplaced += g('taco_sessions_misplaced') ?? 0;
      ez.backlog = Math.max(ez.backlog, g('taco_queue_backlog') ?? 0); // one queue per ezone, seen by each node
      const v = g('taco_shard_map_version');
      if (v !== undefined) ez.mapVersions.push(v);
      const d = this.record(n, samples, at);
      accepted += d.accepted;
      delivered += d.delivered;
      ez.signinPerSec += d.signinPerSec;
    });
    const tags = (ezone: string) => ({ ezone });
    let misplaced = 0;
    for (const ez of byEzone.values()) {
      rec.gauge('sessions.online', ez.sessions, tags(ez.ezone));
      rec.gauge('sessions.misplaced', ez.misplaced, tags(ez.ezone));
      rec.gauge('queue.backlog', ez.backlog, tags(ez.ezone));
      rec.gauge('signin.rate', ez.signinPerSec, tags(ez.ezone));
      if (ez.mapVersions.length) rec.gauge('shard_map.version', Math.min(...ez.mapVersions), tags(ez.ezone));
      misplaced += ez.misplaced;
    }
    rec.gauge('nodes.unreachable', unreachable.length);
    const versions = [...byEzone.values()].flatMap((e) => e.mapVersions);
    const converged =
      this.expectVersion !== undefined &&
      unreachable.length === 0 &&
      versions.length === this.nodes.length &&
      versions.every((v) => v >= this.expectVersion!);
    if (converged && !this.convergedSeen) {
      this.convergedSeen = true;
      rec.event('map.converged', { version: this.expectVersion });
    }
    const drained = converged && misplaced === 0;
    if (drained && !this.drainedSeen) {
      this.drainedSeen = true;
      rec.event('drain.complete');
    }
    const w = rec.window(Math.max(0, rec.elapsedMs - 10_000), rec.elapsedMs + 1);
    const dl = rec.total('push.delivered', {}, w);
    const ex = rec.total('push.expired', {}, w);
    const success = dl + ex > 0 ? dl / (dl + ex) : null;
    if (success !== null) rec.gauge('push.success', success);
    const p99 = rec.histogram('push.latency', {}, w)?.percentile(99) ?? null;
    const spanS = Math.max(0.001, (at - (this.lastAt ?? at)) / 1000);
    this.lastAt = at;
    this.last = {
      elapsedMs: rec.elapsedMs,
      ezones: [...byEzone.values()].sort((a, b) => a.ezone.localeCompare(b.ezone)),
      acceptedPerSec: accepted / spanS,
      deliveredPerSec: delivered / spanS,
      success,
      p99Ms: p99,
      unreachable,
      converged: this.convergedSeen,
      drained: this.drainedSeen,
    };
    return this.last;
  }

  private lastAt: number | undefined;

  /** Counters and histogram buckets of one node: records the increments since its last scrape. */
  private record(n: LiveNode, samples: PromSample[], at: number) {
    const rec = this.recorder;
    const prev = this.prev.get(n.url);
    const counters = new Map<string, number>();
    const buckets = new Map<string, number>();
    for (const s of samples) {
      if (s.name.endsWith('_total')) counters.set(s.name, (counters.get(s.name) ?? 0) + s.value);
      else if (s.name === 'taco_push_latency_ms_bucket')
        buckets.set(s.labels.le ?? '+Inf', (buckets.get(s.labels.le ?? '+Inf') ?? 0) + s.value);
    }
    this.prev.set(n.url, { at, counters, buckets });
    const out = { accepted: 0, delivered: 0, signinPerSec: 0 };
    if (!prev) return out; // the first scrape is the baseline
    const tags = { ezone: n.ezone };
    const delta = (name: string) => {
      const cur = counters.get(name) ?? 0;
      const before = prev.counters.get(name) ?? 0;
      return cur >= before ? cur - before : cur; // a restarted node starts again from 0
    };
    for (const def of LIVE_COUNTERS) {
      const d = delta(`${promName(def.name)}_total`);
      if (d > 0) rec.count(def.name, d, tags);
      if (def.name === 'push.accepted') out.accepted = d;
      if (def.name === 'push.delivered') out.delivered = d;
      if (def.name === 'signin.ok') out.signinPerSec = d / Math.max(0.001, (at - prev.at) / 1000);
    }
    // Cumulative buckets → per-bucket increments, each observed at its upper bound.
    const les = [...buckets.keys()].sort(
      (a, b) => Number(a === '+Inf' ? Infinity : a) - Number(b === '+Inf' ? Infinity : b),
    );
    let prevCum = 0;
    let prevBound = 0;
    for (const le of les) {
      const cum = Math.max(0, (buckets.get(le) ?? 0) - (prev.buckets.get(le) ?? 0));
      const inBucket = Math.max(0, cum - prevCum);
      const bound = le === '+Inf' ? prevBound * 2 || 60_000 : Number(le);
      for (let k = 0; k < Math.min(inBucket, 100_000); k++) rec.observe('push.latency', bound, tags);
      prevCum = Math.max(prevCum, cum);
      prevBound = bound;
    }
    return out;
  }
}
