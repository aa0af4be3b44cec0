// The bare-ws reference for `npm run bench`: a minimal WebSocket server that
// sends and receives the same frames as taco's gateway (client protocol v1)
// and does nothing else — no token check, no routes, no message store, no
// queue. What taco spends beyond it is the price of being a push platform.
//
//   hello → welcome      ping → pong      push → (client) → ack
//
// Started by src/load/bench.ts with child_process.fork. Prints one
// {"event":"ready","ws":PORT} line; takes commands over IPC:
//   {type:'saturate', window, durationMs, warmupMs} keep `window` pushes unACKed, count ACKs per second
//   {type:'rate', perSec, durationMs}               push at a fixed rate (timer, open model)
// and answers each with {type:'result', ...}.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const sessions = [];
let seq = 0;
let onAck = () => {};

const mono = () => Number(process.hrtime.bigint()) / 1e6;
const welcome = (id) =>
  JSON.stringify({
    op: 'welcome',
    session: `r.${id}`,
    heartbeat: 60,
    node: 0,
    ezone: 'local',
    reconnect: { baseMs: 1000, maxMs: 60000, jitter: 'full' },
  });

const http = createServer((_req, res) => {
  res.writeHead(426);
  res.end();
});
const wss = new WebSocketServer({
  server: http,
  perMessageDeflate: false,
  handleProtocols: (p) => (p.has('taco.v1') ? 'taco.v1' : false),
});
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let f;
    try {
      f = JSON.parse(String(data));
    } catch {
      ws.close(4400, 'bad frame');
      return;
    }
    switch (f.op) {
      case 'hello':
        sessions.push(ws);
        ws.send(welcome(++seq));
        return;
      case 'ping':
        ws.send(JSON.stringify({ op: 'pong', ts: Date.now() }));
        return;
      case 'ack':
        onAck();
        return;
      default:
        return;
    }
  });
  ws.on('error', () => {});
});

let pushSeq = 0;
function pushTo(ws) {
  const id = String(++pushSeq);
  ws.send(`{"op":"push","id":"${id}","kind":"passthrough","data":{"t":${mono()},"m":1},"ts":${Date.now()}}`);
}
// Sessions are never removed (the bench does not drop any); a closed one is skipped.
function randomSession() {
  for (let i = 0; i < 8 && sessions.length; i++) {
    const ws = sessions[Math.floor(Math.random() * sessions.length)];
    if (ws.readyState === 1) return ws;
  }
  return undefined;
}

process.on('message', (m) => {
  if (m.type === 'saturate') {
    let outstanding = 0;
    let counting = false;
    let counted = 0;
    let stopped = false;
    const send = () => {
      const ws = randomSession();
      if (!ws) return;
      outstanding++;
      pushTo(ws);
    };
    onAck = () => {
      outstanding--;
      if (counting) counted++;
      if (!stopped) while (outstanding < m.window) send();
    };
    for (let i = 0; i < m.window; i++) send();
    setTimeout(() => {
      counting = true;
      const t0 = mono();
      const cpu0 = process.cpuUsage();
      setTimeout(() => {
        counting = false;
        stopped = true;
        const secs = (mono() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        process.send({
          type: 'result',
          acksPerSec: counted / secs,
          cpuUsPerAck: (cpu.user + cpu.system) / Math.max(1, counted),
        });
        onAck = () => {};
      }, m.durationMs);
    }, m.warmupMs ?? 1000);
  } else if (m.type === 'rate') {
    const t0 = mono();
    const total = Math.floor((m.perSec * m.durationMs) / 1000);
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((mono() - t0) * m.perSec) / 1000) + 1);
      for (; sent < due; sent++) {
        const ws = randomSession();
        if (ws) pushTo(ws);
      }
      if (sent >= total) {
        clearInterval(timer);
        process.send({ type: 'result', sent });
      }
    }, 1);
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'ready', ws: http.address().port })}\n`);
});
