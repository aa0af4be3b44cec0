#!/usr/bin/env node
// Where a .heapprofile's allocations were made: by function (self) and by the last four frames of
// their stacks. Written for `npm run bench -- --only saturate --alloc-profile DIR`, whose profile
// keeps the samples of objects already collected (what is allocated, not what is retained).
//
//   node bench/alloc-summary.mjs DIR/taco-saturate.heapprofile [TOP]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/alloc-summary.mjs FILE.heapprofile [TOP]');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const bySelf = new Map();
const byStack = new Map();
let total = 0;
function walk(node, stack) {
  const f = node.callFrame;
  const name = `${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  total += node.selfSize;
  bySelf.set(name, (bySelf.get(name) ?? 0) + node.selfSize);
  const here = [...stack, name];
  if (node.selfSize > 0) {
    const k = here.slice(-4).join(' > ');
    byStack.set(k, (byStack.get(k) ?? 0) + node.selfSize);
  }
  for (const c of node.children) walk(c, here);
}
walk(profile.head, []);
const pct = (v) => `${((100 * v) / total).toFixed(1).padStart(5)}%`;
console.log(`${(total / 2 ** 20).toFixed(1)} MiB sampled\n\nby function (self):`);
for (const [k, v] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(v), k);
console.log('\nby stack (last four frames):');
for (const [k, v] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(v), k);
