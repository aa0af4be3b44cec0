// The queue on RabbitMQ: the Queue contract, and at-least-once delivery through a network cut and a broker
// restart (publishes wait for the broker within their deadline; consumers come back by themselves).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TacoError } from '../../src/core/errors.js';
import { AmqpQueue } from '../../src/engines/amqp/queue.js';
import { eventually, queueContract, uniq } from '../../src/engines/contract/index.js';
import { admin, hasCommand, runPrefix, service } from '../helpers/services.js';
import { deleteQueues, quiet, recordingQueue } from './fixtures.js';

const amqp = await service('amqp');
const restartable = (await hasCommand('rabbitmqctl'))
  ? process.env.TACO_SKIP_RESTARTS === '1'
    ? 'TACO_SKIP_RESTARTS=1'
    : false
  : 'rabbitmqctl is not installed';

queueContract(
  'rabbitmq',
  async () => {
    const q = await AmqpQueue.connect(amqp.url!, { queuePrefix: runPrefix('qc'), log: quiet });
    const names = new Set<string>();
    return {
      subject: recordingQueue(q, names),
      async cleanup() {
        await deleteQueues(q, names);
        await q.close();
      },
    };
  },
  { skip: amqp.skip },
);

/** Publishes 0..n-1 (`parallel` at a time), calling `at(i)` before publishing i; returns the failures. */
async function publishAll(q: AmqpQueue, name: string, n: number, parallel: number, at?: (i: number) => void) {
  const failures: Error[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        at?.(i);
        await q.publish(name, { i }, { priority: i % 10 }).catch((e: Error) => failures.push(e));
      }
    }),
  );
  return failures;
}

describe('rabbitmq queue through outages', { skip: amqp.skip, timeout: 60_000 }, () => {
  const queues: AmqpQueue[] = [];
  const names = new Set<string>();
  let prefix: string;
  before(() => {
    prefix = runPrefix('qo');
  });
  after(async () => {
    const cleaner = await AmqpQueue.connect(amqp.url!, { queuePrefix: prefix, log: quiet });
    await deleteQueues(cleaner, names);
    await cleaner.close();
    for (const q of queues) await q.close();
  });

  async function open(opts: Partial<Parameters<typeof AmqpQueue.connect>[1]> = {}) {
    const q = await AmqpQueue.connect(amqp.url!, {
      queuePrefix: prefix,
      log: process.env.DEBUG_AMQP ? (m) => console.error(Date.now() % 100000, m) : quiet,
      reconnectBaseMs: 100,
      ...opts,
    });
    queues.push(q);
    return q;
  }

  test('a network cut: publishes wait for the reconnect, the consumer comes back, nothing is lost', async () => {
    const q = await open({ publishTimeoutMs: 15_000 });
    const name = uniq('cut');
    names.add(name);
    const seen = new Set<number>();
    const h = await q.consume<{ i: number }>(
      name,
      async (d) => {
        await new Promise((r) => setTimeout(r, 1));
        seen.add(d.body.i);
      },
      { concurrency: 4 },
    );
    const n = 400;
    const failures = await publishAll(q, name, n, 8, (i) => {
      if (i === 100 || i === 250) q.connection.dropSocketForTest();
    });
    assert.deepEqual(failures, []);
    await eventually(() => seen.size === n, 20_000, `all ${n} consumed (have ${seen.size})`);
    assert.ok(q.connection.generation >= 3, 'it really reconnected (twice)');
    await h.cancel();
  });

  test('a queue deleted under us is declared again: the publish is not silently dropped', async () => {
    const q = await open();
    const other = await open();
    const name = uniq('deleted');
    names.add(name);
    await q.publish(name, { n: 1 }, {});
    await other.deleteQueue(name); // q still believes the queue exists
    await q.publish(name, { n: 2 }, {}); // unroutable → returned → declared again → sent again
    const got: number[] = [];
    const h = await q.consume<{ n: number }>(name, async (d) => void got.push(d.body.n), { concurrency: 1 });
    await eventually(() => got.length === 1, 5_000, 'the second message arrives');
    await h.cancel();
    assert.deepEqual(got, [2]);
  });

  test('no broker within the deadline: publish fails with ENGINE_UNAVAILABLE, never silently', async () => {
    const q = await open({ publishTimeoutMs: 300 });
    await q.connection.close(); // gone for good: nothing will come back
    const name = uniq('away');
    names.add(name);
    const started = Date.now();
    await assert.rejects(q.publish(name, { x: 1 }, {}), (e: TacoError) => e.code === 'ENGINE_UNAVAILABLE');
    assert.ok(Date.now() - started < 2_000, 'bounded by the publish deadline');
  });

  test('a broker restart (stop_app/start_app): durable queues and persistent messages survive, nothing is lost', {
    skip: restartable,
    timeout: 55_000,
  }, async () => {
    const q = await open({ publishTimeoutMs: 30_000 });
    const name = uniq('restart');
    names.add(name);
    const seen = new Set<number>();
    // A slow consumer, so a backlog sits in the queue while the broker restarts.
    const h = await q.consume<{ i: number }>(
      name,
      async (d) => {
        await new Promise((r) => setTimeout(r, 5));
        seen.add(d.body.i);
      },
      { concurrency: 2 },
    );
    const n = 300;
    let restart: Promise<void> | undefined;
    const failures = await publishAll(q, name, n, 4, (i) => {
      if (i === 150)
        restart = (async () => {
          await admin('rabbitmqctl', ['stop_app']);
          await admin('rabbitmqctl', ['start_app']);
        })();
    });
    await restart;
    assert.deepEqual(
      failures.map((e) => e.message),
      [],
    );
    await eventually(() => seen.size === n, 30_000, `all ${n} consumed (have ${seen.size})`);
    await h.cancel();
  });
});
