/**
 * The simulator against the live system at 15,000 clients (src/load/agreement.ts):
 * p99 push latency at a fixed load and the time until every client is back after
 * a drop of all sessions, each within 25%. A few minutes of real load on this
 * machine, so it runs only with TACO_AGREEMENT=1: `npm run test:agreement`
 * (which .ci/run calls). TACO_AGREEMENT_CLIENTS / _RATE change the scale,
 * TACO_AGREEMENT_ATTEMPTS (3) how often a run whose machine changed under it
 * is repeated;
 * TACO_AGREEMENT_JSON=FILE keeps the whole result (inputs, live and simulated
 * storms) for the record.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  type AgreementResult,
  defaultAgreement,
  formatAgreement,
  runAgreement,
} from '../../src/load/agreement.js';
import { progress } from '../../src/load/progress.js';
import { LOAD_APP, serve } from './harness.js';

const enabled = process.env.TACO_AGREEMENT === '1';

const ATTEMPTS = Number(process.env.TACO_AGREEMENT_ATTEMPTS ?? 3);

test('the simulator predicts the live p99 push latency and storm recovery within 25%', {
  skip: enabled ? false : 'set TACO_AGREEMENT=1 (npm run test:agreement): minutes of live load',
  timeout: 900_000,
}, async () => {
  // The front thread explicitly: what `taco serve` runs on this 2-core machine by default.
  const s = await serve(['--http-front', 'thread']);
  try {
    // A run whose machine changed between the inputs and the predicted drop compares nothing:
    // it is repeated (a bounded number of times), never counted as a pass.
    let r: AgreementResult | undefined;
    const unsteady: string[] = [];
    // A node that dies mid-run would leave the storm waiting for clients that cannot come back.
    const died = new Promise<never>((_, reject) =>
      s.proc.child.once('exit', (code, signal) =>
        reject(new Error(`taco serve exited (${signal ?? code}) during the run:\n${s.proc.stderr()}`)),
      ),
    );
    died.catch(() => {});
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const run = runAgreement(
        {
          ...defaultAgreement,
          clients: Number(process.env.TACO_AGREEMENT_CLIENTS ?? defaultAgreement.clients),
          pushRate: Number(process.env.TACO_AGREEMENT_RATE ?? defaultAgreement.pushRate),
          target: {
            wsUrl: s.ws,
            httpUrl: s.http,
            grpcAddress: s.grpc,
            app: LOAD_APP.id,
            secret: LOAD_APP.secret,
          },
        },
        progress(true),
      );
      r = await Promise.race([run, died]);
      console.log(formatAgreement(r));
      if (r.steady.ok) break;
      unsteady.push(formatAgreement(r));
    }
    if (process.env.TACO_AGREEMENT_JSON)
      writeFileSync(process.env.TACO_AGREEMENT_JSON, `${JSON.stringify(r, null, 2)}\n`);
    const text = formatAgreement(r!);
    assert.ok(
      r!.steady.ok,
      `the machine's load changed within each of ${ATTEMPTS} runs:\n${unsteady.join('\n')}`,
    );
    assert.ok(
      r!.pushP99Ms.ok,
      `push p99: live ${r!.pushP99Ms.live} ms, simulated ${r!.pushP99Ms.sim} ms\n${text}`,
    );
    assert.ok(
      r!.stormRecoverySec.ok,
      `storm recovery: live ${r!.stormRecoverySec.live} s, simulated ${r!.stormRecoverySec.sim} s\n${text}`,
    );
  } finally {
    await s.proc.stop();
  }
});
