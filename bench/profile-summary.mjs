#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `npm run bench -- --profile DIR`): self time by function
// and by file, the top N of each. Usage: node bench/profile-summary.mjs FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [N]');
  process.exit(2);
}
const n = Number(nArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((x) => [x.id, x]));
// TACO_PROFILE_WINDOW=FROM,TO keeps the samples taken FROM..TO seconds after the profile started
// (e.g. the steady part of a load run, without start-up and sign-ins).
const [from, to] = (process.env.TACO_PROFILE_WINDOW ?? '0,Infinity').split(',').map(Number);
const self = new Map();
let total = 0;
let at = 0;
for (let i = 0; i < p.samples.length; i++) {
  at += p.timeDeltas[i] ?? 0;
  const s = at / 1e6;
  if (s < from || s > to) continue;
  const id = p.samples[i];
  self.set(id, (self.get(id) ?? 0) + 1);
  total++;
}
const fn = new Map();
const files = new Map();
for (const [id, c] of self) {
  const node = byId.get(id);
  const cf = node.callFrame;
  const where = cf.url ? `${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : '';
  const k = `${cf.functionName || '(anon)'} ${where}`;
  fn.set(k, (fn.get(k) ?? 0) + c);
  const f = cf.url ? cf.url.split('/').slice(-2).join('/') : cf.functionName;
  files.set(f, (files.get(f) ?? 0) + c);
}
const top = (m) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, c]) => `${((c / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
console.log(
  `${total} samples, ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s\n\nby function (self):\n${top(fn)}\n\nby file (self):\n${top(files)}`,
);

// Inclusive time of the functions named in TACO_PROFILE_INCLUSIVE (comma-separated), e.g.
// TACO_PROFILE_INCLUSIVE=parserOnIncoming,socketOnData node bench/profile-summary.mjs FILE
const names = (process.env.TACO_PROFILE_INCLUSIVE ?? '').split(',').filter(Boolean);
if (names.length) {
  const parent = new Map();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const incl = new Map(names.map((k) => [k, 0]));
  for (const [id, c] of self) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const name = byId.get(cur).callFrame.functionName;
      if (incl.has(name) && !seen.has(name)) {
        seen.add(name);
        incl.set(name, incl.get(name) + c);
      }
    }
  }
  console.log('\ninclusive:');
  for (const [k, c] of incl) console.log(`${((c / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
