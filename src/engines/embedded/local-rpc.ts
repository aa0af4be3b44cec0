/**
 * Node-to-node RPC for a single process: there are no peers, so a route to
 * another node is stale (that node is gone) and the device counts as offline.
 */
import type { DeliverResult, PeerRpc } from '../../core/ports.js';

export class NoPeersRpc implements PeerRpc {
  async deliver(): Promise<DeliverResult> {
    return 'no-session';
  }
  async forwardAck(): Promise<void> {}
}
