/**
 * The body the `taco failover` commands share: build the client and the SLOs
 * from flags, run the drill (src/failover/drill.ts) with a live view, print
 * the plan and the verdicts, and give the exit code (0 held, 1 an SLO failed).
 */
import { ExitCodes } from '../cli/base-command.js';
import { AdminClient } from './admin-client.js';
import { startDrillDashboard } from './dashboard.js';
import {
  type DrillAction,
  type DrillResult,
  defaultSlos,
  readSloFile,
  runDrill,
  type SloInput,
} from './drill.js';
import { urlsOf } from './flags.js';
import { formatChange, formatSloResults, formatSnapshotLine } from './format.js';

export interface DrillCommandFlags {
  url: string[];
  token?: string | undefined;
  timeout: number;
  'dry-run': boolean;
  slo?: string[] | undefined;
  'slo-file'?: string | undefined;
  watch: number;
  interval: number;
  by: string;
  note?: string | undefined;
  json: boolean;
  dashboard?: boolean | undefined;
}

export interface CommandIo {
  log(line: string): void;
  logToStderr(line: string): void;
}

export function clientOf(f: { url: string[]; token?: string | undefined; timeout: number }): AdminClient {
  return new AdminClient({ urls: urlsOf(f.url), token: f.token, timeoutMs: f.timeout });
}

/** Runs a drill command; returns the exit code. */
export async function runDrillCommand(
  io: CommandIo,
  f: DrillCommandFlags,
  action: DrillAction,
  title: string,
): Promise<number> {
  const slos: SloInput[] = [
    ...(f['slo-file'] ? readSloFile(f['slo-file']) : []),
    ...(f.slo ?? []).map((text, i) => ({ text, source: `--slo #${i + 1}` })),
  ];
  if (slos.length === 0)
    for (const text of defaultSlos(action, f.watch)) slos.push({ text, source: 'default SLO' });
  const live = f.dashboard ?? Boolean(process.stderr.isTTY);
  const state = {
    title,
    snapshot: undefined as DrillResult['last'],
    remainingMs: f.watch,
    slos: slos.map((s) => s.text),
  };
  let dash: { stop(): void } | undefined;
  let lastLine = 0;
  let result: DrillResult;
  try {
    result = await runDrill({
      client: clientOf(f),
      action,
      by: f.by,
      note: f.note,
      dryRun: f['dry-run'],
      watchMs: f.watch,
      intervalMs: f.interval,
      slos,
      onPlan: (r, moving) => {
        if (!f.json) io.log(formatChange({ ...r, dryRun: true }, moving.sessions, f['dry-run']));
        if (!f['dry-run']) {
          if (!f.json) io.log(`applying; watching ${result0(f.watch)} …`);
          if (live) dash = startDrillDashboard(state);
        }
      },
      onSample: (s, remainingMs) => {
        state.snapshot = s;
        state.remainingMs = remainingMs;
        if (!live && !f.json && Date.now() - lastLine >= 5_000) {
          lastLine = Date.now();
          io.logToStderr(formatSnapshotLine(s));
        }
      },
    });
  } finally {
    dash?.stop();
  }
  if (f.json) {
    io.log(
      JSON.stringify({
        dryRun: f['dry-run'],
        previous: result.change.previous.version,
        current: result.change.current.version,
        plan: result.change.plan,
        sessionsToMove: result.sessionsToMove,
        slos: result.slos,
        ok: result.ok,
        last: result.last,
      }),
    );
  } else if (!f['dry-run']) {
    io.log(formatChange(result.change, result.sessionsToMove));
    if (result.last) io.log(formatSnapshotLine(result.last));
    io.log(formatSloResults(result.slos));
  }
  return result.ok ? ExitCodes.OK : ExitCodes.CHECK_FAILED;
}

function result0(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)}s` : `${ms}ms`;
}
