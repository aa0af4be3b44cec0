import { AmqpQueue } from '../../src/engines/amqp/queue.js';
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(Date.now() - t0, ...a);
const q = await AmqpQueue.connect('amqp://guest:guest@127.0.0.1:5672', { queuePrefix: 'dbg_', log: (m) => log('LOG', m), reconnectBaseMs: 100, publishTimeoutMs: 5000 });
const seen = new Set<number>();
const h = await q.consume<{ i: number }>('cut', async (d) => { await new Promise((r) => setTimeout(r, 1)); seen.add(d.body.i); }, { concurrency: 4 });
let fails = 0; let next = 0; const n = 400;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < n) {
    const i = next++;
    if (i === 100 || i === 250) { log('drop at', i); q.connection.dropSocketForTest(); }
    await q.publish('cut', { i }, { priority: i % 10 }).catch((e) => { fails++; log('fail', i, e.message); });
  }
}));
log('published; fails', fails);
const until = Date.now() + 5000;
while (seen.size < n && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
log('seen', seen.size, 'fails', fails);
await h.cancel(); await q.deleteQueue('cut'); await q.close();
