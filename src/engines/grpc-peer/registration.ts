/**
 * Keeps a node's directory entry alive: registers at once, then again every
 * `ttlMs / 3`, so two missed beats still leave it registered. A crashed node
 * stops beating and drops out of the directory within `ttlMs`.
 */
import type { NodeDirectory } from '../../core/ports.js';

export interface RegistrationOptions {
  node: number;
  ezone: string;
  /** host:port peers dial (the node's gRPC port on an address they can reach). */
  address: string;
  ttlMs?: number;
  log?: (msg: string) => void;
}

export interface Registration {
  /** Stops beating; the entry then expires within its TTL. */
  stop(): void;
}

export async function keepRegistered(dir: NodeDirectory, o: RegistrationOptions): Promise<Registration> {
  const ttlMs = o.ttlMs ?? 15_000;
  const beat = () => dir.register(o.node, o.ezone, o.address, ttlMs);
  await beat();
  const timer = setInterval(
    () => {
      beat().catch((e: Error) => o.log?.(`node ${o.node}: directory registration failed: ${e.message}`));
    },
    Math.max(100, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
