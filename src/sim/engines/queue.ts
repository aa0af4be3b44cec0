/**
 * Simulated broker: the Queue port with the limits that caused the mq-backlog
 * incident. Deliveries are paced by a budget of `perConsumerPerSec` messages
 * per consumer slot, refilled every `tickMs`; past `diskModeThreshold` waiting
 * messages the broker pages to disk and the budget shrinks by `diskModeSlowdown`.
 * At-least-once and priority order as in the contract.
 */
import type { Scheduler } from '../../core/clock.js';
import { SYNC_ENGINE, type SyncQueue } from '../../core/dispatcher.js';
import { TacoError } from '../../core/errors.js';
import type { ConsumerHandle, Queue, QueueDelivery, QueueStats } from '../../core/ports.js';

export interface SimQueueParams {
  perConsumerPerSec: number;
  diskModeThreshold: number;
  diskModeSlowdown: number;
  tickMs: number;
}

interface Consumer {
  handler: (d: QueueDelivery<unknown>) => Promise<void>;
  concurrency: number;
  busy: number;
  cancelled: boolean;
}

class SimQueueState {
  readonly levels: unknown[][] = Array.from({ length: 10 }, () => []);
  readonly heads = new Array<number>(10).fill(0);
  readonly redelivered = new Set<unknown>();
  ready = 0;
  unacked = 0;
  budget = 0;
  consumers: Consumer[] = [];
  rr = 0;
}

export class SimQueue implements Queue, SyncQueue {
  private readonly queues = new Map<string, SimQueueState>();
  /** Set by faults: broker unreachable. */
  down = false;
  /** Set by faults: extra slowdown factor (1 = none). */
  forcedSlowdown = 1;
  diskModeEntered = 0;
  private inDiskMode = false;

  constructor(
    clock: Scheduler,
    private readonly p: SimQueueParams,
  ) {
    clock.setInterval(() => this.refill(), p.tickMs);
  }

  private state(name: string): SimQueueState {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new SimQueueState()));
    return q;
  }

  get backlog(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.ready;
    return n;
  }

  get diskMode(): boolean {
    return this.inDiskMode;
  }

  private refill(): void {
    const backlog = this.backlog;
    const disk = backlog > this.p.diskModeThreshold;
    if (disk && !this.inDiskMode) this.diskModeEntered++;
    this.inDiskMode = disk;
    const factor = (disk ? this.p.diskModeSlowdown : 1) * this.forcedSlowdown;
    for (const q of this.queues.values()) {
      let slots = 0;
      for (const c of q.consumers) slots += c.concurrency;
      // Unused budget does not pile up beyond one tick's worth.
      q.budget = Math.min(q.budget, 1) + (slots * this.p.perConsumerPerSec * this.p.tickMs) / 1000 / factor;
      this.pump(q);
    }
  }

  async publish<T>(queue: string, body: T, opts: { priority?: number }): Promise<void> {
    this.publishSync(queue, body, opts);
  }

  publishSync<T>(queue: string, body: T, opts: { priority?: number }): void {
    if (this.down) throw new TacoError('ENGINE_UNAVAILABLE', 'queue broker unreachable (simulated outage)');
    const q = this.state(queue);
    q.levels[Math.max(0, Math.min(9, opts.priority ?? 0))]!.push(body);
    q.ready++;
    this.pump(q);
  }

  /** The dispatcher's synchronous view (see SYNC_ENGINE): while the broker is up and `publish` is this class's. */
  [SYNC_ENGINE](): SyncQueue | undefined {
    return !this.down && this.publish === SimQueue.prototype.publish ? this : undefined;
  }

  private take(q: SimQueueState): unknown {
    for (let p = 9; p >= 0; p--) {
      const level = q.levels[p]!;
      const h = q.heads[p]!;
      if (h < level.length) {
        const item = level[h];
        level[h] = undefined;
        q.heads[p] = h + 1;
        if (h + 1 > 4096 && (h + 1) * 2 > level.length) {
          q.levels[p] = level.slice(h + 1);
          q.heads[p] = 0;
        }
        q.ready--;
        return item;
      }
    }
    return undefined;
  }

  private pump(q: SimQueueState): void {
    if (this.down) return;
    const n = q.consumers.length;
    let idle = 0;
    while (q.ready > 0 && q.budget >= 1 && idle < n) {
      const c = q.consumers[q.rr++ % n]!;
      if (c.cancelled || c.busy >= c.concurrency) {
        idle++;
        continue;
      }
      idle = 0;
      q.budget -= 1;
      const body = this.take(q);
      const redelivered = q.redelivered.delete(body);
      c.busy++;
      q.unacked++;
      c.handler({ body, redelivered }).then(
        () => {
          c.busy--;
          q.unacked--;
          this.pump(q);
        },
        () => {
          c.busy--;
          q.unacked--;
          q.redelivered.add(body);
          q.levels[9]!.push(body);
          q.ready++;
        },
      );
    }
  }

  async consume<T>(
    queue: string,
    handler: (d: QueueDelivery<T>) => Promise<void>,
    opts: { concurrency: number },
  ): Promise<ConsumerHandle> {
    const q = this.state(queue);
    const c: Consumer = {
      handler: handler as Consumer['handler'],
      concurrency: opts.concurrency,
      busy: 0,
      cancelled: false,
    };
    q.consumers.push(c);
    return {
      setConcurrency: (n) => {
        c.concurrency = Math.max(1, n);
      },
      cancel: async () => {
        c.cancelled = true;
        q.consumers = q.consumers.filter((x) => x !== c);
      },
    };
  }

  async stats(queue: string): Promise<QueueStats> {
    if (this.down) throw new TacoError('ENGINE_UNAVAILABLE', 'queue broker unreachable (simulated outage)');
    const q = this.state(queue);
    return { ready: q.ready, unacked: q.unacked, consumers: q.consumers.length };
  }

  /** Consumer slots across every queue (for metrics). */
  get consumerSlots(): number {
    let n = 0;
    for (const q of this.queues.values()) for (const c of q.consumers) n += c.concurrency;
    return n;
  }
}
