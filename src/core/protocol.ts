/**
 * Client protocol v1 (SPEC §3): frame types, a pure decoder that validates a
 * text frame into a typed frame or a TacoError, and the encoder. No sockets here:
 * the ws adapter feeds text in, the simulator feeds typed frames in directly.
 */
import { TacoError } from './errors.js';

export const SUBPROTOCOL = 'taco.v1';
export const MAX_FRAME_BYTES = 64 * 1024;

export const CloseCodes = {
  NORMAL: 1000,
  BAD_FRAME: 4400,
  BAD_TOKEN: 4401,
  TIMEOUT: 4408,
  REPLACED: 4409,
  RATE_LIMITED: 4429,
  MOVED: 4503,
} as const;

export type Platform = 'android' | 'ios' | 'h5';
export type AppState = 'foreground' | 'background';
export type PushKind = 'notification' | 'passthrough';
export type AckStatus = 'received' | 'displayed' | 'opened';
export type ThirdPartyChannelName = 'apns' | 'fcm' | 'vendor';

export const PLATFORMS: readonly Platform[] = ['android', 'ios', 'h5'];
const APP_STATES: readonly AppState[] = ['foreground', 'background'];
const ACK_STATUSES: readonly AckStatus[] = ['received', 'displayed', 'opened'];
const CHANNELS: readonly ThirdPartyChannelName[] = ['apns', 'fcm', 'vendor'];

export interface HelloFrame {
  op: 'hello';
  token: string;
  platform: Platform;
  appState: AppState;
  configVersion?: number;
  lastAck?: string;
}
export interface PingFrame {
  op: 'ping';
}
export interface AckFrame {
  op: 'ack';
  id: string;
  status: AckStatus;
}
export interface StateFrame {
  op: 'state';
  appState: AppState;
}
export interface RegisterFrame {
  op: 'register';
  channel: ThirdPartyChannelName;
  token: string;
}
export interface UpFrame {
  op: 'up';
  id: string;
  data: Record<string, unknown>;
}
export type ClientFrame = HelloFrame | PingFrame | AckFrame | StateFrame | RegisterFrame | UpFrame;

export interface ReconnectPolicyWire {
  baseMs: number;
  maxMs: number;
  jitter: 'full' | 'none';
}
export interface WelcomeFrame {
  op: 'welcome';
  session: string;
  heartbeat: number;
  node: number;
  ezone: string;
  /** Taco extension: reconnect policy the SDK should use (delivered by the server). */
  reconnect?: ReconnectPolicyWire;
}
export interface PongFrame {
  op: 'pong';
  ts: number;
}
export interface PushFrame {
  op: 'push';
  id: string;
  kind: PushKind;
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  ts: number;
}
export interface UpAckFrame {
  op: 'up.ack';
  id: string;
}
export interface ConfigFrame {
  op: 'config';
  version: number;
  data: Record<string, unknown>;
}
export interface ErrorFrame {
  op: 'error';
  code: string;
  message: string;
  retryAfterMs?: number;
}
export type ServerFrame = WelcomeFrame | PongFrame | PushFrame | UpAckFrame | ConfigFrame | ErrorFrame;

function bad(message: string): TacoError {
  return new TacoError('BAD_FRAME', message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, field: string, op: string, maxLen = 4096): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0)
    throw bad(`${op}: field "${field}" must be a non-empty string`);
  if (v.length > maxLen) throw bad(`${op}: field "${field}" is longer than ${maxLen} characters`);
  return v;
}

function oneOf<T extends string>(
  o: Record<string, unknown>,
  field: string,
  op: string,
  allowed: readonly T[],
): T {
  const v = o[field];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw bad(`${op}: field "${field}" must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/** Validates a parsed JSON value as a client frame. */
export function validateClientFrame(v: unknown): ClientFrame {
  if (!isPlainObject(v)) throw bad('a frame must be a JSON object');
  const op = v.op;
  if (typeof op !== 'string') throw bad('a frame must have a string field "op"');
  switch (op) {
    case 'hello': {
      const f: HelloFrame = {
        op,
        token: str(v, 'token', op, 8192),
        platform: oneOf(v, 'platform', op, PLATFORMS),
        appState: oneOf(v, 'appState', op, APP_STATES),
      };
      if (v.configVersion !== undefined) {
        if (!Number.isSafeInteger(v.configVersion) || (v.configVersion as number) < 0) {
          throw bad('hello: field "configVersion" must be a non-negative integer');
        }
        f.configVersion = v.configVersion as number;
      }
      if (v.lastAck !== undefined) f.lastAck = str(v, 'lastAck', op, 32);
      return f;
    }
    case 'ping':
      return { op };
    case 'ack':
      return { op, id: str(v, 'id', op, 32), status: oneOf(v, 'status', op, ACK_STATUSES) };
    case 'state':
      return { op, appState: oneOf(v, 'appState', op, APP_STATES) };
    case 'register':
      return { op, channel: oneOf(v, 'channel', op, CHANNELS), token: str(v, 'token', op, 4096) };
    case 'up': {
      const data = v.data;
      if (!isPlainObject(data)) throw bad('up: field "data" must be a JSON object');
      return { op, id: str(v, 'id', op, 128), data };
    }
    default:
      throw new TacoError('UNKNOWN_OP', `unknown op ${JSON.stringify(op).slice(0, 40)}`);
  }
}

/** UTF-8 size of a string without Buffer, so this module also runs in browsers. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const ACK_HEAD = '{"op":"ack","id":"';
const ACK_MID = '","status":"';

/**
 * An ACK written the way the SDK and the load clients write it (`{"op":"ack","id":"<digits>",
 * "status":"<status>"}`, nothing else) read without JSON.parse: it is one frame per push. Returns
 * undefined for anything else, which then takes the general path; the frame is the one that path
 * would have produced.
 */
function canonicalAck(text: string): AckFrame | undefined {
  if (!text.startsWith(ACK_HEAD)) return undefined;
  let i = ACK_HEAD.length;
  const idStart = i;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
  }
  const idLen = i - idStart;
  if (idLen === 0 || idLen > 32 || !text.startsWith(ACK_MID, i)) return undefined;
  const statusStart = i + ACK_MID.length;
  const end = text.length - 2;
  if (end <= statusStart || text.charCodeAt(end) !== 34 || text.charCodeAt(end + 1) !== 125) return undefined;
  const status = text.slice(statusStart, end);
  if (status !== 'received' && status !== 'displayed' && status !== 'opened') return undefined;
  return { op: 'ack', id: text.slice(idStart, i), status };
}

/** Decodes one text frame. `byteLength` is the frame's size on the wire. */
export function decodeClientFrame(text: string, byteLength = utf8Length(text)): ClientFrame {
  if (byteLength > MAX_FRAME_BYTES) {
    throw new TacoError('FRAME_TOO_LARGE', `frame of ${byteLength} bytes exceeds ${MAX_FRAME_BYTES} bytes`);
  }
  const ack = canonicalAck(text);
  if (ack !== undefined) return ack;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('frame is not valid JSON');
  }
  return validateClientFrame(parsed);
}

/**
 * JSON text of a server frame. A push (one per message) is written field by field in the order
 * pushFrameOf builds it, the same text JSON.stringify gives for such a frame, without walking the
 * frame object; only its strings and `data` go through JSON.stringify.
 */
export function encodeServerFrame(f: ServerFrame): string {
  if (f.op !== 'push') return JSON.stringify(f);
  let s = `{"op":"push","id":${JSON.stringify(f.id)},"kind":${JSON.stringify(f.kind)},"ts":${JSON.stringify(f.ts)}`;
  if (f.title !== undefined) s += `,"title":${JSON.stringify(f.title)}`;
  if (f.body !== undefined) s += `,"body":${JSON.stringify(f.body)}`;
  if (f.data !== undefined) s += `,"data":${JSON.stringify(f.data)}`;
  return `${s}}`;
}

/** Server-side validation of frames the SDK receives (the SDK must not trust the wire either). */
export function decodeServerFrame(text: string): ServerFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('server frame is not valid JSON');
  }
  if (!isPlainObject(v) || typeof v.op !== 'string') throw bad('server frame must be an object with "op"');
  return v as unknown as ServerFrame;
}
