// The embedded twins held to the engine contracts (the production engines run the same suites).
import {
  messageStoreContract,
  nodeDirectoryContract,
  queueContract,
  routeStoreContract,
} from '../../src/engines/contract/index.js';
import { MemoryMessageStore } from '../../src/engines/embedded/message-store.js';
import { MemoryNodeDirectory } from '../../src/engines/embedded/node-directory.js';
import { MemoryQueue } from '../../src/engines/embedded/queue.js';
import { MemoryRouteStore } from '../../src/engines/embedded/route-store.js';

const none = async () => {};

routeStoreContract('embedded', async () => ({ subject: new MemoryRouteStore(), cleanup: none }));
messageStoreContract('embedded', async () => ({ subject: new MemoryMessageStore(), cleanup: none }));
queueContract('embedded', async () => ({ subject: new MemoryQueue(), cleanup: none }));
nodeDirectoryContract('embedded', async () => ({ subject: new MemoryNodeDirectory(), cleanup: none }));
