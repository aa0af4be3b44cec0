/**
 * Durable work queues on RabbitMQ: the production twin of MemoryQueue.
 *
 * - Queues are durable classic queues with `x-max-priority: 10`, declared on
 *   first use and again after every reconnect.
 * - `publish` sends a persistent message on a ConfirmChannel and resolves only
 *   on the broker's confirm; `mandatory` makes an unroutable message (its queue
 *   deleted under us) an error, not a silent drop. While the broker is away,
 *   a publish waits for the next connection and is retried there, all within
 *   its deadline; then it fails with ENGINE_UNAVAILABLE (no connection came)
 *   or DEADLINE_EXCEEDED (no confirm came). A retried publish may be stored
 *   twice — delivery is at least once anyway.
 * - `stats` comes from a passive-equivalent declare (ready, consumers); `unacked`
 *   counts this process's handlers in flight.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { TacoError } from '../../core/errors.js';
import type { ConsumerHandle, Queue, QueueDelivery, QueueStats } from '../../core/ports.js';
import { deadlineSignal, delay, maskUrl, withDeadline } from '../deadline.js';
import { AmqpConnection, type AmqpConnectionOptions } from './connection.js';
import { AmqpConsumer, QUEUE_ARGS } from './consumer.js';
import { Gate } from './gate.js';

export interface AmqpQueueOptions extends AmqpConnectionOptions {
  /** Prefix of every queue name (tests use a unique one per run). */
  queuePrefix?: string;
  /** Deadline of a publish, waiting for a connection included. */
  publishTimeoutMs?: number;
  /** Deadline of declares, stats and channel operations. */
  opTimeoutMs?: number;
  /** How long `cancel` waits for running handlers. */
  cancelTimeoutMs?: number;
}

class Unroutable extends Error {}

/** Errors after which the same publish may be retried on the next channel. */
function isTransient(e: unknown): boolean {
  if (e instanceof Unroutable) return true;
  const code = (e as { code?: number }).code;
  if (code === 406 || code === 403) return false; // PRECONDITION_FAILED / ACCESS_REFUSED: retrying won't help
  return /closed|closing|ended|connection|socket|ECONN|EPIPE/i.test((e as Error)?.message ?? '');
}

export class AmqpQueue implements Queue {
  private readonly conn: AmqpConnection;
  private readonly publisher = new Gate<ConfirmChannel>();
  private admin: Channel | undefined;
  private declared = new Map<string, Promise<void>>();
  private readonly returned = new Set<string>();
  /**
   * Publishes awaiting a confirm, per channel. amqplib fails them when their channel closes, but
   * stops at the first already-confirmed slot (out-of-order confirms), leaving the rest waiting
   * forever; so a closing channel fails its own publishes here.
   */
  private readonly unconfirmed = new WeakMap<ConfirmChannel, Set<(e: Error) => void>>();
  private readonly consumers = new Set<AmqpConsumer>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly prefix: string;
  private readonly publishTimeoutMs: number;
  private readonly opTimeoutMs: number;
  private readonly cancelTimeoutMs: number;
  private readonly log: (msg: string) => void;

  private constructor(url: string, opts: AmqpQueueOptions) {
    this.prefix = opts.queuePrefix ?? '';
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 10_000;
    this.opTimeoutMs = opts.opTimeoutMs ?? 5_000;
    this.cancelTimeoutMs = opts.cancelTimeoutMs ?? 5_000;
    this.log = opts.log ?? (() => {});
    this.conn = new AmqpConnection(url, opts);
    this.conn.onOpen((c) => this.onOpen(c));
  }

  /** Connects (or fails with ENGINE_UNAVAILABLE naming the URL); reconnects by itself afterwards. */
  static async connect(url: string, opts: AmqpQueueOptions = {}): Promise<AmqpQueue> {
    const q = new AmqpQueue(url, opts);
    await q.conn.start();
    return q;
  }

  get url(): string {
    return maskUrl(this.conn.url);
  }

  /** The connection (tests drop it to simulate a network cut). */
  get connection(): AmqpConnection {
    return this.conn;
  }

  name(queue: string): string {
    return this.prefix + queue;
  }

  private async onOpen(conn: ChannelModel): Promise<void> {
    this.declared = new Map();
    this.admin = undefined;
    await this.openPublisher(conn);
    for (const c of this.consumers) await c.attach(conn);
  }

  private async openPublisher(conn: ChannelModel): Promise<void> {
    const ch = await withDeadline(
      conn.createConfirmChannel(),
      this.opTimeoutMs,
      'opening the publish channel',
    );
    ch.on('error', (e: Error) => this.log(`amqp publish channel: ${e.message}`));
    ch.on('return', (msg: { properties: { messageId?: string } }) => {
      if (msg.properties.messageId) this.returned.add(msg.properties.messageId);
    });
    this.unconfirmed.set(ch, new Set());
    ch.on('close', () => {
      this.publisher.close(ch);
      const waiting = this.unconfirmed.get(ch)!;
      for (const fail of [...waiting]) fail(new Error('channel closed before the confirm'));
      waiting.clear();
      // If only the channel died (a channel error) open a new one; if the connection is going too
      // (its 'close' comes right after its channels'), the reconnect does it.
      setImmediate(() => {
        if (this.conn.current !== conn || this.conn.isClosed) return;
        this.openPublisher(conn).catch((e: Error) => {
          this.log(`amqp: cannot reopen the publish channel (${e.message}); reconnecting`);
          conn.close().catch(() => {});
        });
      });
    });
    this.publisher.open(ch);
  }

  /** Declares a queue once per connection; concurrent publishers share the one declare. */
  private declare(ch: Channel, name: string): Promise<void> {
    let p = this.declared.get(name);
    if (!p) {
      p = withDeadline(ch.assertQueue(name, QUEUE_ARGS), this.opTimeoutMs, `declaring ${name}`).then(
        () => {},
      );
      const map = this.declared;
      map.set(name, p);
      p.catch(() => map.get(name) === p && map.delete(name));
    }
    return p;
  }

  async publish<T>(queue: string, body: T, opts: { priority?: number }): Promise<void> {
    const name = this.name(queue);
    const content = Buffer.from(JSON.stringify(body));
    const priority = Math.max(0, Math.min(10, Math.floor(opts.priority ?? 0)));
    const what = `publish to ${name}`;
    const d = deadlineSignal(this.publishTimeoutMs, what);
    let connected = false;
    try {
      for (;;) {
        const ch = await this.publisher.wait(d.signal, what);
        connected = true;
        try {
          await withDeadline(this.declare(ch, name), Number.POSITIVE_INFINITY, what, d.signal);
          await this.confirm(ch, name, content, priority, d.signal);
          return;
        } catch (e) {
          if (d.signal.aborted || !isTransient(e)) throw e;
          if (e instanceof Unroutable) this.declared.delete(name);
          // A closed channel has left the gate already (its 'close' handler); pause so an error
          // that repeats on a live channel cannot spin.
          else await delay(50, d.signal, what);
        }
      }
    } catch (e) {
      if (!connected || (e instanceof TacoError && e.code === 'DEADLINE_EXCEEDED' && !this.publisher.current))
        throw new TacoError(
          'ENGINE_UNAVAILABLE',
          `${what}: RabbitMQ at ${this.url} unavailable for ${this.publishTimeoutMs} ms`,
          { engine: 'amqp' },
          { cause: e },
        );
      if (e instanceof TacoError) throw e;
      throw new TacoError(
        'ENGINE_UNAVAILABLE',
        `${what}: ${(e as Error).message}`,
        { engine: 'amqp' },
        { cause: e },
      );
    } finally {
      d.dispose();
    }
  }

  private confirm(ch: ConfirmChannel, name: string, content: Buffer, priority: number, signal: AbortSignal) {
    const messageId = randomUUID();
    const waiting = this.unconfirmed.get(ch);
    const sent = new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) => {
        waiting?.delete(fail);
        reject(e);
      };
      waiting?.add(fail);
      try {
        ch.publish(
          '',
          name,
          content,
          { persistent: true, priority, contentType: 'application/json', messageId, mandatory: true },
          (err: unknown) => {
            waiting?.delete(fail);
            if (this.returned.delete(messageId)) reject(new Unroutable(`no queue ${name}`));
            else if (err) reject(err);
            else resolve();
          },
        );
      } catch (e) {
        fail(e); // the channel closed under us
      }
    });
    return withDeadline(sent, Number.POSITIVE_INFINITY, `confirm of a publish to ${name}`, signal);
  }

  async consume<T>(
    queue: string,
    handler: (d: QueueDelivery<T>) => Promise<void>,
    opts: { concurrency: number },
  ): Promise<ConsumerHandle> {
    const c = new AmqpConsumer(
      this.name(queue),
      handler as (d: QueueDelivery<unknown>) => Promise<void>,
      opts.concurrency,
      {
        opTimeoutMs: this.opTimeoutMs,
        cancelTimeoutMs: this.cancelTimeoutMs,
        log: this.log,
        onCancelled: (x) => this.consumers.delete(x),
        onChannelLost: (x) => this.reattachLater(x),
      },
    );
    this.consumers.add(c);
    const conn = this.conn.current;
    if (conn) {
      try {
        await c.attach(conn);
      } catch (e) {
        if ((e as { code?: number }).code === 406) {
          this.consumers.delete(c);
          throw new TacoError('INTERNAL', `consume ${c.queue}: ${(e as Error).message}`, undefined, {
            cause: e,
          });
        }
        // Broker away: the consumer subscribes when the connection comes back.
        this.log(`amqp: consumer of ${c.queue} waits for the broker: ${(e as Error).message}`);
      }
    }
    return {
      setConcurrency: (n: number) => c.setConcurrency(n),
      cancel: () => c.cancel(),
    };
  }

  /**
   * A consumer lost its channel. If the whole connection went, the reconnect
   * re-subscribes it; if only the channel did, re-subscribe it after a pause.
   */
  private reattachLater(c: AmqpConsumer): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const conn = this.conn.current;
      if (!conn || c.attached || !this.consumers.has(c)) return;
      c.attach(conn).catch((e: Error) => {
        this.log(`amqp: re-subscribing ${c.queue} failed: ${e.message}`);
        this.reattachLater(c);
      });
    }, 1_000);
    this.timers.add(timer);
  }

  private async adminChannel(signal: AbortSignal): Promise<Channel> {
    if (this.admin) return this.admin;
    const conn = this.conn.current;
    if (!conn)
      throw new TacoError('ENGINE_UNAVAILABLE', `RabbitMQ at ${this.url} is unavailable`, { engine: 'amqp' });
    const ch = await withDeadline(conn.createChannel(), this.opTimeoutMs, 'opening a channel', signal);
    ch.on('error', (e: Error) => this.log(`amqp admin channel: ${e.message}`));
    ch.on('close', () => {
      if (this.admin === ch) this.admin = undefined;
    });
    this.admin = ch;
    return ch;
  }

  async stats(queue: string): Promise<QueueStats> {
    const name = this.name(queue);
    const d = deadlineSignal(this.opTimeoutMs, `stats of ${name}`);
    try {
      const ch = await this.adminChannel(d.signal);
      const r = await withDeadline(
        ch.assertQueue(name, QUEUE_ARGS),
        this.opTimeoutMs,
        `stats of ${name}`,
        d.signal,
      );
      let unacked = 0;
      for (const c of this.consumers) if (c.queue === name) unacked += c.unacked;
      return { ready: r.messageCount, unacked, consumers: r.consumerCount };
    } catch (e) {
      if (e instanceof TacoError) throw e;
      throw new TacoError('ENGINE_UNAVAILABLE', `stats of ${name}: ${(e as Error).message}`, {
        engine: 'amqp',
      });
    } finally {
      d.dispose();
    }
  }

  /** Deletes a queue and its messages (tests and operations). */
  async deleteQueue(queue: string): Promise<void> {
    const d = deadlineSignal(this.opTimeoutMs, `delete ${queue}`);
    try {
      const ch = await this.adminChannel(d.signal);
      await withDeadline(ch.deleteQueue(this.name(queue)), this.opTimeoutMs, `delete ${queue}`, d.signal);
      this.declared.delete(this.name(queue));
    } finally {
      d.dispose();
    }
  }

  /** Cancels every consumer (letting running handlers finish, bounded) and closes the connection. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.consumers].map((c) => c.cancel()));
    await this.conn.close();
  }
}
