/**
 * One consumer of one queue, on its own channel so its prefetch is its own.
 * Prefetch = concurrency (channel-wide `basic.qos`, which RabbitMQ applies to
 * a running consumer, so `setConcurrency` takes effect at once). Manual acks:
 * a handler that resolves acks, one that rejects nacks with requeue. A message
 * whose channel died before its handler finished is not acked on the new
 * channel (its delivery tag means nothing there): the broker has requeued it
 * and delivers it again (at least once).
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { QueueDelivery } from '../../core/ports.js';
import { withDeadline } from '../deadline.js';

export const QUEUE_ARGS = { durable: true, arguments: { 'x-max-priority': 10 } } as const;

export interface ConsumerDeps {
  opTimeoutMs: number;
  cancelTimeoutMs: number;
  log: (msg: string) => void;
  /** Called when the consumer has stopped for good. */
  onCancelled: (c: AmqpConsumer) => void;
  /** Called when its channel closed while the consumer is still wanted. */
  onChannelLost: (c: AmqpConsumer) => void;
}

export class AmqpConsumer {
  private ch: Channel | undefined;
  /** The connection this consumer is (being) subscribed on; one subscription per connection. */
  private attachedTo: ChannelModel | undefined;
  private tag: string | undefined;
  private cancelled = false;
  private inFlight = 0;
  private readonly drained = new Set<() => void>();
  private concurrency: number;

  constructor(
    readonly queue: string,
    private readonly handler: (d: QueueDelivery<unknown>) => Promise<void>,
    concurrency: number,
    private readonly deps: ConsumerDeps,
  ) {
    this.concurrency = Math.max(1, Math.floor(concurrency));
  }

  /** Messages handed to the handler and not yet settled. */
  get unacked(): number {
    return this.inFlight;
  }

  get attached(): boolean {
    return this.ch !== undefined;
  }

  /** Opens a channel on `conn` and subscribes; called on every (re)connect. */
  async attach(conn: ChannelModel): Promise<void> {
    if (this.cancelled || this.attachedTo === conn) return;
    this.attachedTo = conn;
    const ms = this.deps.opTimeoutMs;
    let ch: Channel;
    try {
      ch = await withDeadline(conn.createChannel(), ms, `opening a channel for ${this.queue}`);
    } catch (e) {
      if (this.attachedTo === conn) this.attachedTo = undefined;
      throw e;
    }
    ch.on('error', (e: Error) => this.deps.log(`amqp consumer channel (${this.queue}): ${e.message}`));
    ch.on('close', () => {
      if (this.ch === ch) {
        this.ch = undefined;
        this.tag = undefined;
        this.attachedTo = undefined;
        if (!this.cancelled) this.deps.onChannelLost(this);
      }
    });
    try {
      await withDeadline(ch.assertQueue(this.queue, QUEUE_ARGS), ms, `declaring ${this.queue}`);
      await withDeadline(ch.prefetch(this.concurrency, true), ms, `prefetch on ${this.queue}`);
      this.ch = ch;
      const { consumerTag } = await withDeadline(
        ch.consume(this.queue, (msg) => this.onMessage(ch, msg), { noAck: false }),
        ms,
        `subscribing to ${this.queue}`,
      );
      this.tag = consumerTag;
    } catch (e) {
      if (this.ch === ch) this.ch = undefined;
      if (this.attachedTo === conn) this.attachedTo = undefined;
      ch.close().catch(() => {});
      throw e;
    }
  }

  private onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted). Closing the channel lets the next reconnect re-subscribe.
      this.deps.log(`amqp: the broker cancelled the consumer of ${this.queue}`);
      ch.close().catch(() => {});
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
    } catch {
      // Not ours (every Taco publish is JSON): reject it rather than loop on it forever.
      this.deps.log(`amqp: rejecting a non-JSON message on ${this.queue}`);
      this.settle(ch, msg, 'reject');
      return;
    }
    this.inFlight++;
    let p: Promise<void>;
    try {
      p = this.handler({ body, redelivered: msg.fields.redelivered });
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => this.done(ch, msg, 'ack'),
      () => this.done(ch, msg, 'requeue'),
    );
  }

  private done(ch: Channel, msg: ConsumeMessage, how: 'ack' | 'requeue'): void {
    this.inFlight--;
    this.settle(ch, msg, how);
    if (this.inFlight === 0) for (const w of this.drained) w();
  }

  private settle(ch: Channel, msg: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): void {
    if (ch !== this.ch) return; // that channel is gone; the broker requeued the message
    try {
      if (how === 'ack') ch.ack(msg);
      else ch.nack(msg, false, how === 'requeue');
    } catch {
      // Closed under us: same as above.
    }
  }

  setConcurrency(n: number): void {
    this.concurrency = Math.max(1, Math.floor(n));
    const ch = this.ch;
    if (!ch) return; // applied on the next attach
    withDeadline(
      ch.prefetch(this.concurrency, true),
      this.deps.opTimeoutMs,
      `prefetch on ${this.queue}`,
    ).catch((e: Error) => this.deps.log(`amqp: could not change prefetch of ${this.queue}: ${e.message}`));
  }

  /** Stops new deliveries, lets running handlers finish (bounded) and acks them, then closes the channel. */
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    const { ch, tag } = this;
    const ms = this.deps.cancelTimeoutMs;
    try {
      if (ch && tag) await withDeadline(ch.cancel(tag), ms, `cancelling the consumer of ${this.queue}`);
      if (this.inFlight > 0) {
        let w: (() => void) | undefined;
        await withDeadline(
          new Promise<void>((r) => this.drained.add((w = r))),
          ms,
          `waiting for handlers of ${this.queue}`,
        ).finally(() => this.drained.delete(w!));
      }
    } catch (e) {
      this.deps.log(`amqp: ${(e as Error).message}; closing the channel (unacked messages are requeued)`);
    } finally {
      this.ch = undefined;
      if (ch) await withDeadline(ch.close(), ms, 'closing a channel').catch(() => {});
      this.deps.onCancelled(this);
    }
  }
}
