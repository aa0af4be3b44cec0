/**
 * Production transport: the client protocol over `ws`. It only moves bytes:
 * text frames go to the core's decoder, the core's frames are encoded here,
 * and the core decides every close. The adapter's own job is to make sure a
 * close really ends the socket: a peer that never answers the close handshake
 * is terminated after `closeGraceMs` (no CLOSE_WAIT pile-up on our side).
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { TacoError } from '../core/errors.js';
import type { ClientConnection, GatewayCore } from '../core/gateway.js';
import { encodeServerFrame, MAX_FRAME_BYTES, type ServerFrame, SUBPROTOCOL } from '../core/protocol.js';

export interface WsGatewayOptions {
  path: string;
  closeGraceMs: number;
  /** Frames up to this size reach the core (which answers 4400 past 64 KiB); larger ones are cut by ws (1009). */
  maxPayloadBytes: number;
  /** A client that does not read: beyond this many buffered bytes its connection is dropped. */
  maxBufferedBytes: number;
}

export const defaultWsGatewayOptions: WsGatewayOptions = {
  path: '/v1/connect',
  closeGraceMs: 5_000,
  maxPayloadBytes: 4 * MAX_FRAME_BYTES,
  maxBufferedBytes: 4 * 1024 * 1024,
};

/**
 * Frames written during one event-loop turn leave at its end: the first send of a turn corks the
 * socket and the batch uncorks every corked socket from one setImmediate. Several frames to one
 * socket become one writev, and the sockets of a turn are written back to back, so a load client
 * woken by the first write finds the rest already there (at saturation the per-frame writev, and
 * the wake-up of an idle reader it paid for, was the largest item of the gateway's profile).
 */
export class WriteBatch {
  private corked: Duplex[] = [];
  private immediate: NodeJS.Immediate | undefined;
  /** Counts flushes: a socket corked in generation g is uncorked when g ends. */
  generation = 0;

  /** Corks `socket` until the end of this turn; call once per socket and generation (ws's own cork/uncork nest inside). */
  hold(socket: Duplex): void {
    if (socket.destroyed) return;
    socket.cork();
    this.corked.push(socket);
    this.immediate ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    const list = this.corked;
    this.corked = [];
    this.generation++;
    for (const s of list) if (!s.destroyed) s.uncork();
  }
}

class WsConnection implements ClientConnection {
  private graceTimer: NodeJS.Timeout | undefined;
  /** The turn (batch generation) in which this socket was last corked. */
  private heldIn = -1;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly batch: WriteBatch,
    private readonly opts: WsGatewayOptions,
  ) {}

  send(frame: ServerFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.opts.maxBufferedBytes) {
      // A peer that does not read would grow our memory without bound.
      this.ws.terminate();
      return;
    }
    if (this.heldIn !== this.batch.generation) {
      this.heldIn = this.batch.generation;
      this.batch.hold(this.socket);
    }
    this.ws.send(encodeServerFrame(frame));
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.ws.close(code, reason.slice(0, 120));
    this.graceTimer = setTimeout(() => this.ws.terminate(), this.opts.closeGraceMs);
    this.graceTimer.unref();
  }

  /** Called once the socket is closed, whoever closed it. */
  disposed(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }
}

export class WsGateway {
  private readonly wss: WebSocketServer;
  private readonly opts: WsGatewayOptions;
  private readonly batch = new WriteBatch();

  constructor(
    private readonly gateway: GatewayCore,
    opts: Partial<WsGatewayOptions> = {},
  ) {
    this.opts = { ...defaultWsGatewayOptions, ...opts };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.opts.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: true,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  /** Serves upgrades on `server` (the dedicated WebSocket port). Plain HTTP requests get 426. */
  attach(server: HttpServer): void {
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'application/json', upgrade: 'websocket' });
      res.end(
        JSON.stringify({
          error: {
            code: 'TACO_ERR_UPGRADE_REQUIRED',
            message: `connect with WebSocket to ${this.opts.path}`,
          },
        }),
      );
    });
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    const reject = (status: string, message: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${message}\n`);
    };
    if (path !== this.opts.path) {
      reject('404 Not Found', `unknown path ${path}; use ${this.opts.path}`);
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim());
    if (!offered.includes(SUBPROTOCOL)) {
      reject('400 Bad Request', `WebSocket subprotocol ${SUBPROTOCOL} is required`);
      return;
    }
    socket.on('error', () => socket.destroy());
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket));
  }

  private onConnection(ws: WebSocket, socket: Duplex): void {
    const conn = new WsConnection(ws, socket, this.batch, this.opts);
    const session = this.gateway.open(conn);
    ws.on('message', (data, isBinary) => {
      // ws hands a Buffer (binaryType 'nodebuffer', the default); Buffer.from(buffer) would copy it.
      const buf = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        this.gateway.protocolError(
          session,
          new TacoError('BAD_FRAME', 'binary frames are not supported; send JSON text frames'),
        );
        return;
      }
      this.gateway.text(session, buf.toString('utf8'), buf.length);
    });
    ws.on('error', () => {
      // 'close' follows every 'error'; the core is told there.
    });
    ws.on('close', () => {
      conn.disposed();
      this.gateway.gone(session);
    });
  }

  get clientCount(): number {
    return this.wss.clients.size;
  }

  /** Ends every remaining socket (after the core has closed its sessions). */
  async close(): Promise<void> {
    this.batch.flush();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
