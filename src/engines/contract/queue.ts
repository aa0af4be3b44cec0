/** The Queue contract (src/core/ports.ts), as tests any implementation must pass. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queue, QueueDelivery } from '../../core/ports.js';
import { type ContractOptions, eventually, type Factory, type Subject, uniq } from './harness.js';

/** A handler whose calls wait until released, counting how many run at once. */
function heldHandler<T>() {
  let running = 0;
  let maxRunning = 0;
  const seen: T[] = [];
  const waiting: (() => void)[] = [];
  let open = false;
  return {
    handler: async (d: QueueDelivery<T>) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (!open) await new Promise<void>((r) => waiting.push(r));
      running--;
      seen.push(d.body);
    },
    get running() {
      return running;
    },
    get maxRunning() {
      return maxRunning;
    },
    seen,
    releaseAll() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
  };
}

export function queueContract(name: string, factory: Factory<Queue>, opts: ContractOptions = {}): void {
  describe(`Queue contract: ${name}`, { skip: opts.skip, timeout: opts.timeoutMs ?? 60_000 }, () => {
    let s: Subject<Queue>;
    let queue: Queue;
    before(async () => {
      s = await factory();
      queue = s.subject;
    });
    after(async () => s?.cleanup());

    test('publish then consume delivers the body', async () => {
      const q = uniq('q');
      const body = { id: '123', app: 'a', n: 1.5, nested: { list: [1, 'two'] } };
      await queue.publish(q, body, { priority: 5 });
      const got: QueueDelivery<typeof body>[] = [];
      const h = await queue.consume<typeof body>(q, async (d) => void got.push(d), { concurrency: 1 });
      await eventually(() => got.length === 1, 5_000, 'the message arrives');
      await h.cancel();
      assert.deepEqual(got[0]!.body, body);
      assert.equal(got[0]!.redelivered, false);
    });

    test('a handler that rejects gets the message again, flagged redelivered', async () => {
      const q = uniq('q');
      await queue.publish(q, { n: 1 }, {});
      const calls: boolean[] = [];
      const h = await queue.consume(
        q,
        async (d) => {
          calls.push(d.redelivered);
          if (calls.length === 1) throw new Error('not now');
        },
        { concurrency: 1 },
      );
      await eventually(() => calls.length >= 2, 5_000, 'the message comes back');
      await h.cancel();
      assert.deepEqual(calls.slice(0, 2), [false, true]);
      await eventually(async () => (await queue.stats(q)).ready === 0, 5_000, 'acked after the second try');
    });

    test('higher priority is delivered first when both wait', async () => {
      const q = uniq('q');
      await queue.publish(q, 'low', { priority: 1 });
      await queue.publish(q, 'normal', { priority: 5 });
      await queue.publish(q, 'high', { priority: 9 });
      await queue.publish(q, 'low-2', { priority: 1 });
      const order: string[] = [];
      const h = await queue.consume<string>(q, async (d) => void order.push(d.body), { concurrency: 1 });
      await eventually(() => order.length === 4, 5_000, 'all four arrive');
      await h.cancel();
      assert.deepEqual(order, ['high', 'normal', 'low', 'low-2']);
    });

    test('stats count ready and unacked messages and consumers', async () => {
      const q = uniq('q');
      for (let i = 0; i < 3; i++) await queue.publish(q, i, {});
      await eventually(async () => (await queue.stats(q)).ready === 3, 5_000, '3 ready');
      const held = heldHandler<number>();
      const h = await queue.consume<number>(q, held.handler, { concurrency: 2 });
      await eventually(
        async () => {
          const st = await queue.stats(q);
          return st.ready === 1 && st.unacked === 2 && st.consumers === 1;
        },
        5_000,
        '1 ready, 2 unacked, 1 consumer',
      );
      held.releaseAll();
      await eventually(() => held.seen.length === 3, 5_000, 'all handled');
      await h.cancel();
      await eventually(async () => (await queue.stats(q)).consumers === 0, 5_000, 'no consumer after cancel');
    });

    test('concurrency bounds running handlers, and setConcurrency changes it at run time', async () => {
      const q = uniq('q');
      await Promise.all(Array.from({ length: 12 }, (_, i) => queue.publish(q, i, {})));
      const held = heldHandler<number>();
      const h = await queue.consume<number>(q, held.handler, { concurrency: 2 });
      await eventually(() => held.running === 2, 5_000, '2 handlers running');
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(held.maxRunning, 2);
      h.setConcurrency(5);
      await eventually(() => held.running === 5, 5_000, '5 handlers running after setConcurrency(5)');
      held.releaseAll();
      await eventually(() => held.seen.length === 12, 5_000, 'all 12 handled');
      assert.equal(held.maxRunning, 5);
      await h.cancel();
    });

    test('every message is delivered at least once', async () => {
      const q = uniq('q');
      const n = 200;
      await Promise.all(Array.from({ length: n }, (_, i) => queue.publish(q, i, { priority: i % 10 })));
      const seen = new Set<number>();
      const h = await queue.consume<number>(q, async (d) => void seen.add(d.body), { concurrency: 8 });
      await eventually(() => seen.size === n, 10_000, `all ${n} delivered (have ${seen.size})`);
      await h.cancel();
    });

    test('after cancel nothing more is delivered; new messages wait', async () => {
      const q = uniq('q');
      const got: number[] = [];
      const h = await queue.consume<number>(q, async (d) => void got.push(d.body), { concurrency: 1 });
      await queue.publish(q, 1, {});
      await eventually(() => got.length === 1, 5_000, 'first arrives');
      await h.cancel();
      await queue.publish(q, 2, {});
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(got, [1]);
      await eventually(async () => (await queue.stats(q)).ready === 1, 5_000, 'the second waits');
    });
  });
}
