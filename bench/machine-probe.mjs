#!/usr/bin/env node
// How fast this machine is at what the simulator does most: random lookups in a hash table of
// 1.6M string keys (one per simulated client; memory latency and TLB misses decide it) and plain
// integer work (the core's clock speed). The simulator's wall time moves with the first figure:
// VMs of the same "2-core" size differ by 1.5× in it, so a wall time means little without it.
// Run in a process of its own (bench:sim does) so its 150 MB of garbage stays out of the run.
//
//   node bench/machine-probe.mjs          prints the figures
//   node bench/machine-probe.mjs --json   one JSON line (what bench:sim reads)

import { pathToFileURL } from 'node:url';

const KEYS = 1_600_000;
const LOOKUPS = 3_000_000;

export function probeMachine() {
  const ids = Array.from({ length: KEYS }, (_, i) => `d${i}`);
  const map = new Map();
  for (const id of ids) map.set(id, { id, x: 1 });
  // A fixed LCG: the same lookups on every machine.
  let seed = 1;
  const picks = new Int32Array(LOOKUPS);
  for (let i = 0; i < LOOKUPS; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    picks[i] = seed % KEYS;
  }
  let sink = 0;
  let mapLookupNs = 0;
  // One warm-up pass so the JIT has compiled the loop; the second is measured.
  for (let round = 0; round < 2; round++) {
    const t0 = performance.now();
    for (let i = 0; i < LOOKUPS; i++) sink += map.get(ids[picks[i]]).x;
    if (round === 1) mapLookupNs = ((performance.now() - t0) * 1e6) / LOOKUPS;
  }
  const t1 = performance.now();
  let x = 0;
  for (let i = 0; i < 200_000_000; i++) x = (x + i * 7) % 1_000_003;
  const intLoopMs = performance.now() - t1;
  if (sink < 0 || x < 0) throw new Error('unreachable: keeps the loops from being optimized away');
  return { mapLookupNs: Math.round(mapLookupNs), intLoopMs: Math.round(intLoopMs) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = probeMachine();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(`random lookup, Map of 1.6M string keys  ${r.mapLookupNs} ns`);
    console.log(`integer loop, 2·10^8 iterations        ${r.intLoopMs} ms`);
  }
}
