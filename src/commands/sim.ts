import { Args, Errors, Flags } from '@oclif/core';
import { ExitCodes, TacoCommand } from '../cli/base-command.js';
import { asTacoError } from '../core/errors.js';
import { type DashboardState, startDashboard } from '../sim/dashboard.js';
import { resolveScenarioFiles, runSimSession } from '../sim/session.js';

export default class Sim extends TacoCommand {
  static override summary = 'Simulate the platform under faults, deterministically, and check the SLOs';
  static override description =
    'Runs each scenario (default: every scenarios/*.yaml) and each of its variants on virtual time with the shipped ' +
    'gateway and dispatcher code. Exit 0 iff every default run meets its SLOs and every `expect: fail` variant fails ' +
    'on the SLO it targets; 1 otherwise; 2 for bad input; 3 if the harness itself failed.';
  static override examples = [
    '<%= config.bin %> sim',
    '<%= config.bin %> sim scenarios/close-wait-leak.yaml --scale 0.01 --json out.json --report out.html',
  ];
  static override strict = false;
  static override args = {
    scenario: Args.string({ description: 'scenario files or directories (repeatable)' }),
  };
  static override flags = {
    seed: Flags.integer({ description: 'override every scenario’s seed', min: 0 }),
    scale: Flags.string({
      description: 'shrink the world by this factor (clients, gateways, rates), e.g. 0.01',
    }),
    'base-only': Flags.boolean({ description: 'skip the variants' }),
    json: Flags.string({ description: 'write the versioned JSON summary here' }),
    junit: Flags.string({ description: 'write JUnit XML here' }),
    report: Flags.string({ description: 'write a self-contained HTML report with charts here' }),
    events: Flags.string({ description: 'write the NDJSON event log here' }),
    'live-dashboard': Flags.boolean({ description: 'show a live dashboard on stderr while running' }),
    quiet: Flags.boolean({ description: 'no progress lines on stderr' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Sim);
    const files = resolveScenarioFiles(argv as string[]);
    let scale: number | undefined;
    if (flags.scale !== undefined) {
      scale = Number(flags.scale);
      if (!(scale > 0 && scale <= 10))
        this.error(`--scale ${flags.scale}: expected a number in (0, 10]`, { exit: ExitCodes.BAD_INPUT });
    }
    const state: DashboardState = { runs: [], recorder: undefined };
    const dash = flags['live-dashboard'] ? startDashboard(state) : undefined;
    let lastLine = '';
    try {
      const res = await runSimSession({
        files,
        seed: flags.seed,
        scale,
        baseOnly: flags['base-only'],
        json: flags.json,
        junit: flags.junit,
        report: flags.report,
        events: flags.events,
        color: Boolean(process.stdout.isTTY),
        onRunStart: (label, recorder) => {
          state.runs.push({ label, fraction: 0 });
          state.recorder = recorder;
        },
        onProgress: (label, fraction) => {
          const run = state.runs.find((r) => r.label === label);
          if (run) run.fraction = fraction;
          const line = `${label}: ${Math.round(fraction * 100)}%`;
          if (!dash && !flags.quiet && line !== lastLine) process.stderr.write(`${line}\n`);
          lastLine = line;
        },
        onRunEnd: (label, ok) => {
          const run = state.runs.find((r) => r.label === label);
          if (run) Object.assign(run, { done: true, ok, fraction: 1 });
        },
      });
      dash?.stop();
      this.log(res.table);
      if (!res.ok) this.exit(ExitCodes.CHECK_FAILED);
    } catch (e) {
      dash?.stop();
      if (e instanceof Errors.ExitError) throw e;
      const err = asTacoError(e);
      if (err.cls === 'user' || err.code === 'BAD_INPUT') throw err;
      // The harness itself failed: exit 3 with what broke.
      this.logToStderr(`taco sim: harness failure: ${err.message}`);
      if (process.env.TACO_DEBUG && (e as Error).stack) this.logToStderr((e as Error).stack!);
      this.exit(ExitCodes.INTERNAL);
    }
  }
}
