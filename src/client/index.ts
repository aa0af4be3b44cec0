/** The Taco client SDK: browsers and Node (no node: imports anywhere below). */
export {
  ClientError,
  type ClientEvents,
  type ClientState,
  type ConfigUpdate,
  type StateChange,
  TacoClient,
  type TacoClientOptions,
  type UpstreamHandle,
  type Via,
} from './client.js';
export { parseServerFrame } from './frames.js';
export type { Timers, WebSocketCtor, WebSocketLike } from './platform.js';
export {
  type AppRunState,
  type CloseAction,
  closeCodeAction,
  DECISION_ACKS,
  DEFAULT_RECONNECT,
  DedupWindow,
  type DisplayDecision,
  displayDecision,
  parseRetryAfterMs,
  RETRY_AFTER_MAX_MS,
  ReconnectPolicy,
  reconnectDelayMs,
} from './policy.js';
