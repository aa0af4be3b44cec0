#!/usr/bin/env node
// The floor under taco's HTTP push figure: a bare node:http server that reads the body, parses it and
// answers 202, and nothing else, driven by the same open-model driver as `taco load push`
// (src/load/push-http.ts, 250 keep-alive connections). Prints the server's CPU per request.
//   npm run build && node bench/http-floor.mjs [rate=5000] [seconds=10]
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === '--server') {
  let n = 0;
  let c0;
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString());
      const text = '{"ids":["1234567890123456789"]}';
      res.writeHead(202, ['content-type', 'application/json', 'content-length', String(text.length)]);
      res.end(text);
      n++;
    });
  });
  process.on('message', (m) => {
    if (m === 'start') {
      n = 0;
      c0 = process.cpuUsage();
    } else if (m === 'stop') {
      const c = process.cpuUsage(c0);
      process.send({ requests: n, cpuUs: c.user + c.system });
    }
  });
  srv.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port }));
} else {
  const rate = Number(process.argv[2] ?? 5000);
  const seconds = Number(process.argv[3] ?? 10);
  const { httpPushDriver } = await import(new URL('../dist/load/push-http.js', import.meta.url).href);
  const child = fork(fileURLToPath(import.meta.url), ['--server']);
  const next = () => new Promise((r) => child.once('message', r));
  const { port } = await next();
  const d = httpPushDriver({
    httpUrl: `http://127.0.0.1:${port}`,
    connections: Math.max(32, Math.ceil(rate / 20)),
    app: 'a',
    secret: 's',
    spec: { devicePrefix: 'd', clients: 1000, kind: 'passthrough', ttlSec: 60, measured: true },
  });
  await d.start(rate, 2000); // warm-up
  child.send('start');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await d.start(rate, seconds * 1000);
  const wallMs = performance.now() - t0;
  const dc = process.cpuUsage(c0);
  child.send('stop');
  const s = await next();
  await d.stop(2000);
  child.kill();
  const cores = (us) => (us / 1000 / wallMs).toFixed(2);
  console.log(
    `bare node:http at ${rate}/s for ${seconds} s: ${s.requests} requests, server ${(s.cpuUs / s.requests).toFixed(1)} µs CPU per request ` +
      `(${cores(s.cpuUs)} cores), driver ${cores(dc.user + dc.system)} cores`,
  );
  process.exit(0);
}
