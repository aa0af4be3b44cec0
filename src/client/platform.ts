/**
 * What the SDK needs from its host, as injectable interfaces: a WebSocket
 * (the browser's, or `ws`'s in Node 20, which has no global WebSocket) and
 * timers (injected by tests, so no test patches global timers).
 */

/**
 * The subset of the WHATWG WebSocket the SDK uses. Both the browser's and
 * `ws`'s WebSocket fit. Handler parameters are `never` so that each
 * implementation's own event types are accepted; the SDK assigns handlers that
 * read only `data` (message) and `code`/`reason` (close).
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
}

export type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** WebSocket.OPEN in every implementation. */
export const WS_OPEN = 1;

export interface MessageEventLike {
  data: unknown;
}
export interface CloseEventLike {
  code: number;
  reason: string;
}

/** Timers the SDK uses; every handle it gets is owned by one field and cleared on close(). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
};

/** The host's WebSocket, if it has one (browsers, Node ≥ 22). */
export function defaultWebSocket(): WebSocketCtor | undefined {
  return (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
}

/**
 * Drops a socket we no longer want without waiting for its close handshake.
 * Handlers become no-ops rather than null: `ws` emits 'error' when a
 * connecting socket is aborted, and an EventEmitter 'error' with no listener
 * throws. `terminate()` (ws only) frees a dead peer's socket at once instead of
 * after ws's 30 s close timeout; browsers only have close().
 */
export function discardSocket(ws: WebSocketLike, code: number, reason: string): void {
  ws.onopen = noop;
  ws.onmessage = noop;
  ws.onclose = noop;
  ws.onerror = noop;
  try {
    const terminate = (ws as { terminate?: () => void }).terminate;
    if (ws.readyState === WS_OPEN && code === 1000) ws.close(code, reason);
    else if (typeof terminate === 'function') terminate.call(ws);
    else ws.close(code, reason);
  } catch {
    // Already closed, or a browser refusing the code: the socket is gone either way.
  }
}

function noop(): void {}
