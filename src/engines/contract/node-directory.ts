/** The NodeDirectory contract (src/core/ports.ts), as tests any implementation must pass. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NodeDirectory } from '../../core/ports.js';
import type { ContractOptions, Factory, Subject } from './harness.js';

export function nodeDirectoryContract(
  name: string,
  factory: Factory<NodeDirectory>,
  opts: ContractOptions = {},
): void {
  describe(`NodeDirectory contract: ${name}`, { skip: opts.skip, timeout: opts.timeoutMs ?? 60_000 }, () => {
    let s: Subject<NodeDirectory>;
    let dir: NodeDirectory;
    before(async () => {
      // Each suite gets its own directory (the factory isolates it, e.g. by key prefix).
      s = await factory();
      dir = s.subject;
    });
    after(async () => s?.cleanup());

    test('register then lookup', async () => {
      const before = Date.now();
      await dir.register(1, 'sh', '10.0.0.1:7001', 30_000);
      const n = await dir.lookup(1);
      assert.equal(n?.address, '10.0.0.1:7001');
      assert.equal(n?.ezone, 'sh');
      assert.equal(n?.node, 1);
      assert.ok(n!.expiresAt >= before + 30_000);
      assert.equal(await dir.lookup(99), undefined);
    });

    test('the latest registration wins', async () => {
      await dir.register(2, 'sh', '10.0.0.2:7001', 30_000);
      await dir.register(2, 'bj', '10.0.1.2:7002', 30_000);
      assert.deepEqual(
        { ...(await dir.lookup(2)), expiresAt: 0 },
        { node: 2, ezone: 'bj', address: '10.0.1.2:7002', expiresAt: 0 },
      );
    });

    test('list filters by ezone and orders by node id', async () => {
      await dir.register(12, 'gz', 'c:1', 30_000);
      await dir.register(10, 'gz', 'a:1', 30_000);
      await dir.register(11, 'xa', 'b:1', 30_000);
      assert.deepEqual(
        (await dir.list('gz')).map((n) => n.node),
        [10, 12],
      );
      const all = (await dir.list()).map((n) => n.node);
      assert.ok([10, 11, 12].every((x) => all.includes(x)));
      assert.deepEqual(
        all,
        [...all].sort((a, b) => a - b),
      );
    });

    test('an entry not re-registered within its TTL disappears', async () => {
      await dir.register(20, 'ttl', 'x:1', 80);
      assert.ok(await dir.lookup(20));
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(await dir.lookup(20), undefined);
      assert.deepEqual(await dir.list('ttl'), []);
      await dir.register(20, 'ttl', 'x:2', 30_000);
      assert.equal((await dir.lookup(20))?.address, 'x:2');
    });
  });
}
