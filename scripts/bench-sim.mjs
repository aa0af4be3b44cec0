// `npm run bench:sim`: the simulator's performance benchmark. Runs the
// baseline scenario (default: full scale, 1.6M clients, 10 simulated minutes,
// base run only) and prints wall time, simulated events per second and peak RSS.
// Usage: npm run bench:sim [-- --scale 0.1] [-- scenarios/other.yaml]
import { execFileSync } from 'node:child_process';

const args = process.argv.slice(2);
const scaleAt = args.indexOf('--scale');
const scale = scaleAt >= 0 ? Number(args[scaleAt + 1]) : 1;
const file = args.find((a) => a.endsWith('.yaml')) ?? 'scenarios/baseline-1.6m.yaml';
const cpuProf = args.includes('--cpu-prof');

if (!args.includes('--no-build')) execFileSync('npm', ['run', 'build'], { stdio: 'ignore' });
const { runScenarioFile } = await import('../dist/sim/run.js');
const { judgeRun } = await import('../dist/sim/report/verdict.js');

let events = 0;
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const runs = await runScenarioFile(file, {
  scale,
  baseOnly: true,
  onProgress: (label, f) => process.stderr.write(`\r${label}: ${Math.round(f * 100)}%   `),
  onWorld: (w) => {
    events = () => w.clock.executed;
  },
});
const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const ev = typeof events === 'function' ? events() : 0;
const rssMiB = process.resourceUsage().maxRSS / 1024;
process.stderr.write('\n');
const v = judgeRun(runs[0]);
console.log(`scenario        ${file} (scale ${scale}, base run)`);
console.log(`verdict         ${v.ok ? 'SLOs held' : `SLOs failed: ${v.reason}`}`);
console.log(`wall            ${wallS.toFixed(1)} s`);
console.log(`cpu (user+sys)  ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
console.log(`events          ${ev} (${Math.round(ev / wallS).toLocaleString('en-US')} /s)`);
console.log(`peak RSS        ${rssMiB.toFixed(0)} MiB`);
if (cpuProf) console.log('cpu profile     written by --cpu-prof in the working directory');
