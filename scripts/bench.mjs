#!/usr/bin/env node
// `npm run bench`: bare-ws reference vs taco, one run, printed as ratios.
// Long (a few minutes) and not part of `npm test`. Builds dist/ first unless --no-build.
//
//   npm run bench                        every figure
//   npm run bench -- --only saturate     one figure (memory, signin, saturate, latency; repeatable)
//   npm run bench -- --profile DIR       also write a V8 CPU profile of every taco server process
//   npm run bench -- --only saturate --alloc-profile DIR   what taco allocates over the saturation
//                                        window (sampled, garbage included); read it with
//                                        node bench/alloc-summary.mjs DIR/taco-saturate.heapprofile
//   npm run bench -- --json FILE         also write the full result as JSON
//   npm run bench -- --quick             small numbers (a smoke run, not for the record)
//   npm run bench -- --reference-node-flags   the reference runs with taco serve's node flags too
//                                        (its 32 MiB young generation; the stricter comparison)
//   npm run bench -- --server-nice none  leave the servers' priority alone (default: nice -10 for
//                                        the server under test, both systems, where permitted)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    'no-build': { type: 'boolean' },
    only: { type: 'string', multiple: true },
    profile: { type: 'string' },
    'alloc-profile': { type: 'string' },
    json: { type: 'string' },
    quick: { type: 'boolean' },
    'idle-clients': { type: 'string' },
    'signin-clients': { type: 'string' },
    'push-clients': { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    'server-nice': { type: 'string' },
    'reference-node-flags': { type: 'boolean' },
  },
});

if (!values['no-build']) {
  const b = spawnSync(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`],
    {
      stdio: 'inherit',
    },
  );
  if (b.status !== 0) process.exit(3);
}

const { defaultBenchOptions, formatBench, runBench } = await import(`${root}dist/load/bench.js`);
const { progress } = await import(`${root}dist/load/progress.js`);
const only = values.only?.flatMap((x) => x.split(','));
for (const x of only ?? []) {
  if (!['memory', 'signin', 'saturate', 'latency'].includes(x)) {
    console.error(`bench: --only ${x}: expected memory, signin, saturate or latency`);
    process.exit(2);
  }
}
const num = (v, d) => (v === undefined ? d : Number(v));
const o = {
  ...defaultBenchOptions,
  ...(values.quick
    ? {
        idleClients: 2000,
        signInClients: 2000,
        pushClients: 300,
        saturateMs: 3000,
        latencyRate: 1000,
        latencyMs: 3000,
      }
    : {}),
  only,
  profileDir: values.profile,
  allocProfileDir: values['alloc-profile'],
  referenceNodeFlags: values['reference-node-flags'] === true,
};
o.idleClients = num(values['idle-clients'], o.idleClients);
o.signInClients = num(values['signin-clients'], o.signInClients);
o.pushClients = num(values['push-clients'], o.pushClients);
o.latencyRate = num(values.rate, o.latencyRate);
o.latencyMs = num(values.duration, o.latencyMs / 1000) * 1000;
if (values['server-nice'] !== undefined) {
  const v = values['server-nice'];
  const n = Number(v);
  if (v !== 'none' && !(Number.isInteger(n) && n >= -20 && n <= 19)) {
    console.error(`bench: --server-nice ${v}: expected an integer from -20 to 19, or none`);
    process.exit(2);
  }
  o.serverNice = v === 'none' ? null : n;
}

const r = await runBench(o, progress(true));
console.log(formatBench(r));
if (values.json) writeFileSync(values.json, `${JSON.stringify(r, null, 2)}\n`);
process.exit(0);
