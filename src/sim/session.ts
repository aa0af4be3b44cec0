/**
 * One `taco sim` invocation: finds the scenario files, runs each with its
 * variants, streams events, writes every requested output, and decides the
 * exit code (0 every expectation met, 1 an SLO or expectation failed).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TacoError } from '../core/errors.js';
import type { MetricsRecorder } from './metrics/recorder.js';
import {
  allAsExpected,
  gitCommit,
  NdjsonWriter,
  renderTable,
  type SimReport,
  writeHtmlReport,
  writeJsonReport,
  writeJunitReport,
  writeRunHeader,
} from './report/index.js';
import { runScenarioFile } from './run.js';

export interface SimSessionOptions {
  files: string[];
  seed?: number | undefined;
  scale?: number | undefined;
  baseOnly?: boolean;
  json?: string | undefined;
  junit?: string | undefined;
  report?: string | undefined;
  events?: string | undefined;
  color?: boolean;
  onProgress?: (label: string, fraction: number) => void;
  onRunStart?: (label: string, recorder: MetricsRecorder) => void;
  onRunEnd?: (label: string, ok: boolean) => void;
}

export interface SimSessionResult {
  report: SimReport;
  table: string;
  ok: boolean;
}

/** `scenarios/` when no file is named; a directory means every *.yaml in it. */
export function resolveScenarioFiles(args: string[], defaultDir = 'scenarios'): string[] {
  const inputs = args.length ? args : [defaultDir];
  const files: string[] = [];
  for (const a of inputs) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(a);
    } catch {
      throw new TacoError('BAD_INPUT', `${a}: no such scenario file or directory`);
    }
    if (st.isDirectory()) {
      const found = readdirSync(a)
        .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
        .sort()
        .map((f) => join(a, f));
      if (!found.length)
        throw new TacoError('BAD_INPUT', `${a}: no scenario files (*.yaml) in this directory`);
      files.push(...found);
    } else files.push(a);
  }
  return files;
}

export async function runSimSession(o: SimSessionOptions): Promise<SimSessionResult> {
  const commit = gitCommit();
  const events = o.events ? new NdjsonWriter(o.events) : undefined;
  const report: SimReport = { commit, runs: [] };
  try {
    for (const file of o.files) {
      const runs = await runScenarioFile(file, {
        seed: o.seed,
        scale: o.scale,
        baseOnly: o.baseOnly ?? false,
        onProgress: o.onProgress,
        onRunStart: (label, recorder, s) => {
          if (events) {
            writeRunHeader(events, {
              scenario: s.name,
              variant: s.variant,
              seed: s.seed,
              commit,
              scale: s.scale,
            });
            recorder.onEvent((e) =>
              events.write({ type: 'event', tMs: e.tMs, name: e.name, fields: e.fields ?? {} }),
            );
          }
          o.onRunStart?.(label, recorder);
        },
      });
      for (const r of runs)
        o.onRunEnd?.(r.variant ? `${r.scenario}/${r.variant}` : r.scenario, allAsExpected([r]));
      report.runs.push(...runs);
    }
  } finally {
    events?.close();
  }
  if (o.json) writeJsonReport(o.json, report);
  if (o.junit) writeJunitReport(o.junit, report);
  if (o.report) writeHtmlReport(o.report, report);
  return { report, table: renderTable(report, { color: o.color ?? false }), ok: allAsExpected(report.runs) };
}
