// Development helper: runs one scenario file at a scale and prints the verdicts.

import { judgeRun } from '../../src/sim/report/verdict.js';
import { runScenarioFile } from '../../src/sim/run.js';

const [file, scaleArg, base] = process.argv.slice(2);
const t0 = Date.now();
const runs = await runScenarioFile(file!, { scale: Number(scaleArg ?? 0.01), baseOnly: base === 'base' });
for (const r of runs) {
  const v = judgeRun(r);
  console.log(r.variant ?? '(base)', v.ok ? 'AS EXPECTED' : 'UNEXPECTED', v.reason);
  for (const s of r.slos) console.log('   ', s.ok ? 'ok  ' : 'FAIL', s.message);
}
console.log('wall', (Date.now() - t0) / 1000, 's');
