/**
 * In-process queue: the embedded twin of RabbitMQ. At-least-once: a handler
 * that rejects puts the message back at the head of its priority level,
 * flagged `redelivered`. Ten priority levels (0–9), higher first. Dispatch is
 * scheduled with queueMicrotask only, so it runs identically on virtual time.
 */
import { DONE, SYNC_ENGINE, type SyncQueue } from '../../core/dispatcher.js';
import type { ConsumerHandle, Queue, QueueDelivery, QueueStats } from '../../core/ports.js';

interface Item {
  body: unknown;
  redelivered: boolean;
}

type Handler = (d: QueueDelivery<unknown>) => Promise<void>;

interface Consumer {
  handler: Handler;
  concurrency: number;
  busy: number;
  cancelled: boolean;
}

class LocalQueue {
  /** levels[p] is a FIFO (array + head index) for priority p. */
  readonly levels: { items: Item[]; head: number }[] = Array.from({ length: 10 }, () => ({
    items: [],
    head: 0,
  }));
  ready = 0;
  unacked = 0;
  readonly consumers: Consumer[] = [];
  private scheduled = false;
  private rr = 0;

  push(item: Item, priority: number, front = false) {
    const level = this.levels[Math.max(0, Math.min(9, priority | 0))]!;
    if (front && level.head > 0) level.items[--level.head] = item;
    else if (front) level.items.unshift(item);
    else level.items.push(item);
    this.ready++;
    this.schedule();
  }

  /** Priority of the item `take` returned last (a field, not a pair object per message). */
  private takenPriority = 0;

  private take(): Item | undefined {
    for (let p = 9; p >= 0; p--) {
      const level = this.levels[p]!;
      if (level.head < level.items.length) {
        const item = level.items[level.head]!;
        level.items[level.head++] = undefined as unknown as Item;
        if (level.head > 1024 && level.head * 2 > level.items.length) {
          level.items = level.items.slice(level.head);
          level.head = 0;
        }
        this.ready--;
        this.takenPriority = p;
        return item;
      }
    }
    return undefined;
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump() {
    const n = this.consumers.length;
    if (n === 0) return;
    let idle = 0;
    while (this.ready > 0 && idle < n) {
      const c = this.consumers[this.rr++ % n]!;
      if (c.cancelled || c.busy >= c.concurrency) {
        idle++;
        continue;
      }
      idle = 0;
      const item = this.take()!;
      this.run(c, item, this.takenPriority);
    }
  }

  private run(c: Consumer, item: Item, priority: number) {
    c.busy++;
    this.unacked++;
    let p: Promise<void>;
    try {
      // The item is the delivery (same two fields): no second object per message.
      p = c.handler(item);
    } catch (e) {
      p = Promise.reject(e);
    }
    if (p === DONE) {
      // Handled at once (the dispatcher's synchronous path): acked now, and the pump goes on with
      // this consumer — no callbacks, promise or microtask per message.
      c.busy--;
      this.unacked--;
      return;
    }
    p.then(
      () => {
        c.busy--;
        this.unacked--;
        this.schedule();
      },
      () => {
        c.busy--;
        this.unacked--;
        this.push({ body: item.body, redelivered: true }, priority, true);
      },
    );
  }
}

export class MemoryQueue implements Queue, SyncQueue {
  private readonly queues = new Map<string, LocalQueue>();

  private q(name: string): LocalQueue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new LocalQueue()));
    return q;
  }

  async publish<T>(queue: string, body: T, opts: { priority?: number }): Promise<void> {
    this.publishSync(queue, body, opts);
  }

  publishSync<T>(queue: string, body: T, opts: { priority?: number }): void {
    this.q(queue).push({ body, redelivered: false }, opts.priority ?? 0);
  }

  /** The dispatcher's synchronous view (see SYNC_ENGINE): only while no one has replaced `publish`. */
  [SYNC_ENGINE](): SyncQueue | undefined {
    return this.publish === MemoryQueue.prototype.publish ? this : undefined;
  }

  async consume<T>(
    queue: string,
    handler: (d: QueueDelivery<T>) => Promise<void>,
    opts: { concurrency: number },
  ): Promise<ConsumerHandle> {
    const q = this.q(queue);
    const c: Consumer = {
      handler: handler as Handler,
      concurrency: opts.concurrency,
      busy: 0,
      cancelled: false,
    };
    q.consumers.push(c);
    q.schedule();
    return {
      setConcurrency(n: number) {
        c.concurrency = Math.max(1, n);
        q.schedule();
      },
      async cancel() {
        c.cancelled = true;
        const i = q.consumers.indexOf(c);
        if (i >= 0) q.consumers.splice(i, 1);
      },
    };
  }

  async stats(queue: string): Promise<QueueStats> {
    const q = this.q(queue);
    return { ready: q.ready, unacked: q.unacked, consumers: q.consumers.length };
  }

  /** Takes every waiting message of a queue (SSE readers of upstream use consume instead). */
  depth(queue: string): number {
    return this.queues.get(queue)?.ready ?? 0;
  }
}
