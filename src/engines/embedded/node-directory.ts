/** In-process node directory: the embedded twin of the Redis one (src/engines/redis/node-directory.ts). */
import type { NodeDirectory, NodeInfo } from '../../core/ports.js';

export class MemoryNodeDirectory implements NodeDirectory {
  private readonly nodes = new Map<number, NodeInfo>();

  /** `now` is the clock entries expire on (virtual in the simulator). */
  constructor(private readonly now: () => number = Date.now) {}

  async register(node: number, ezone: string, address: string, ttlMs: number): Promise<void> {
    this.nodes.set(node, { node, ezone, address, expiresAt: this.now() + ttlMs });
  }

  async lookup(node: number): Promise<NodeInfo | undefined> {
    const n = this.nodes.get(node);
    if (!n) return undefined;
    if (n.expiresAt <= this.now()) {
      this.nodes.delete(node);
      return undefined;
    }
    return { ...n };
  }

  async list(ezone?: string): Promise<NodeInfo[]> {
    const now = this.now();
    const out: NodeInfo[] = [];
    for (const [id, n] of this.nodes) {
      if (n.expiresAt <= now) this.nodes.delete(id);
      else if (ezone === undefined || n.ezone === ezone) out.push({ ...n });
    }
    return out.sort((a, b) => a.node - b.node);
  }
}
