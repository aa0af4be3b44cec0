/**
 * One AMQP connection that comes back by itself. The first connect must
 * succeed (else ENGINE_UNAVAILABLE naming the URL); after a loss (broker
 * restart, network) it reconnects with capped exponential backoff and runs
 * every `onOpen` hook again, in order (re-declare queues, re-open channels,
 * re-subscribe consumers). A hook that fails closes the connection, which
 * starts the next attempt. Heartbeats (default 10 s) detect a dead peer.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { backoffDelayMs } from '../../core/backoff.js';
import { TacoError } from '../../core/errors.js';
import { maskUrl, withDeadline } from '../deadline.js';

export interface AmqpConnectionOptions {
  connectTimeoutMs?: number;
  heartbeatSec?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections`. */
  connectionName?: string;
  log?: (msg: string) => void;
}

type OpenHook = (conn: ChannelModel) => Promise<void>;

export class AmqpConnection {
  private conn: ChannelModel | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly hooks: OpenHook[] = [];
  private readonly log: (msg: string) => void;
  /** Bumped on every successful open; lets callers tell connections apart. */
  generation = 0;

  constructor(
    readonly url: string,
    private readonly opts: AmqpConnectionOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
  }

  get current(): ChannelModel | undefined {
    return this.conn;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Registers a hook run on every (re)connect; register before `start`. */
  onOpen(hook: OpenHook): void {
    this.hooks.push(hook);
  }

  async start(): Promise<void> {
    try {
      await this.connectOnce();
    } catch (e) {
      await this.close();
      throw new TacoError(
        'ENGINE_UNAVAILABLE',
        `cannot reach RabbitMQ at ${maskUrl(this.url)}: ${(e as Error).message}`,
        { engine: 'amqp', url: maskUrl(this.url) },
        { cause: e },
      );
    }
  }

  private urlWithHeartbeat(): string {
    if (/[?&]heartbeat=/.test(this.url)) return this.url;
    return `${this.url}${this.url.includes('?') ? '&' : '?'}heartbeat=${this.opts.heartbeatSec ?? 10}`;
  }

  private async connectOnce(): Promise<void> {
    const ms = this.opts.connectTimeoutMs ?? 5_000;
    const pending = amqp.connect(this.urlWithHeartbeat(), {
      timeout: ms,
      // amqplib leaves Nagle on by default: a publish written right after a consumer's ack (or a
      // confirm-channel frame) then waits for the broker's delayed TCP ACK, ~40 ms on Linux — every
      // push took 40 ms to be confirmed once the dispatcher consumed on the same connection
      // (found by test/multinode: 34 pushes/s over 3 nodes). Small frames must go out at once.
      noDelay: true,
      clientProperties: { connection_name: this.opts.connectionName ?? 'taco' },
    });
    const conn = await withDeadline(
      pending,
      ms,
      `connecting to RabbitMQ at ${maskUrl(this.url)}`,
      undefined,
      () => {
        pending.then(
          (late) => late.close().catch(() => {}),
          () => {},
        );
      },
    );
    const abandon = async (why: string) => {
      await withDeadline(conn.close(), ms, 'closing RabbitMQ connection').catch(() => {});
      throw new TacoError('CANCELLED', `RabbitMQ connection ${why}`);
    };
    // close() may have run while we were connecting: don't let a late connection outlive it.
    if (this.closed) await abandon('opened after close()');
    conn.on('error', (e: Error) => this.log(`amqp connection error: ${e.message}`));
    conn.on('close', () => this.onClose(conn));
    conn.on('blocked', (reason: string) => this.log(`amqp: broker blocked publishing: ${reason}`));
    this.conn = conn;
    try {
      for (const hook of this.hooks) await hook(conn);
    } catch (e) {
      this.log(`amqp: setting up the connection failed: ${(e as Error).message}`);
      await withDeadline(conn.close(), ms, 'closing RabbitMQ connection').catch(() => {});
      throw e;
    }
    if (this.closed) await abandon('set up after close()');
    this.generation++;
    this.attempt = 0;
  }

  private onClose(conn: ChannelModel): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.closed) return;
    this.log('amqp connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.timer || this.closed) return;
    const delay = backoffDelayMs(
      { baseMs: this.opts.reconnectBaseMs ?? 200, maxMs: this.opts.reconnectMaxMs ?? 5_000, jitter: 'full' },
      this.attempt++,
      Math.random,
    );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.connectOnce().catch((e: Error) => {
        this.log(`amqp reconnect failed: ${e.message}`);
        // connectOnce's close handler already rescheduled if it got as far as opening.
        if (!this.conn) this.scheduleReconnect();
      });
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) await withDeadline(conn.close(), 5_000, 'closing RabbitMQ connection').catch(() => {});
  }

  /** Test seam: breaks the socket without a goodbye, like a reset connection (broker crash, network RST). */
  dropSocketForTest(): void {
    const stream = (this.conn?.connection as unknown as { stream?: { destroy(e?: Error): void } })?.stream;
    stream?.destroy(new Error('connection reset (test)'));
  }
}
