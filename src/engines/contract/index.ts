/** Engine contract suites: one per port, each a function registering node:test tests for any implementation. */
export {
  type ContractOptions,
  eventually,
  type Factory,
  newMessageId,
  type Subject,
  uniq,
} from './harness.js';
export { messageStoreContract } from './message-store.js';
export { nodeDirectoryContract } from './node-directory.js';
export { queueContract } from './queue.js';
export { routeStoreContract } from './route-store.js';
