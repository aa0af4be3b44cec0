import { Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { formatCalibrate, runCalibrate } from '../../load/calibrate.js';
import {
  clientsFlag,
  durationFlag,
  fleetFlags,
  fleetFrom,
  runChecked,
  targetFlags,
  targetFrom,
} from '../../load/flags.js';
import { progress } from '../../load/progress.js';
import { CALIBRATION_FILE } from '../../sim/calibration.js';

export default class LoadCalibrate extends TacoCommand {
  static override summary = 'Measure the live gateway’s costs and write them into the simulator’s cost model';
  static override description =
    'Drives a running `taco serve` phase by phase — sign-in, idle sessions, extra pings, upgrades without a ' +
    'hello, pushes through the HTTP API, a reconnect storm, every client leaving — and reads its CPU and memory ' +
    'from its /metrics. Writes sessionBytes, signInCpuUs, helloShare, frameCpuUs, pushCpuUs and closeCpuUs into ' +
    'calibration/sim.json (or --output), keeping the other settings; what was ' +
    'measured is kept under "_measured". Run it on a quiet machine: other work shows up in the figures.';
  static override examples = [
    '<%= config.bin %> load calibrate --app demo --secret S',
    '<%= config.bin %> load calibrate --app demo --secret S --clients 10000 --dry-run --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    clients: clientsFlag(5000),
    'push-rate': Flags.integer({
      description: 'pushes per second during the push phase',
      default: 1000,
      min: 1,
      max: 100_000,
    }),
    'push-duration': durationFlag({
      description: 'length of the push phase',
      default: 5_000,
      minMs: 1_000,
      maxMs: 600_000,
    }),
    pings: Flags.integer({
      description: 'extra pings each client sends in the frame phase',
      default: 3,
      min: 1,
      max: 100,
    }),
    output: Flags.string({ description: 'calibration file to update', default: CALIBRATION_FILE }),
    'dry-run': Flags.boolean({ description: 'measure and print, but write nothing' }),
  };

  async run() {
    const { flags } = await this.parse(LoadCalibrate);
    const r = await runChecked(this, () =>
      runCalibrate(
        {
          target: targetFrom(flags),
          fleet: fleetFrom(flags),
          pushRatePerSec: flags['push-rate'],
          pushDurationMs: flags['push-duration'],
          pingsPerClient: flags.pings,
          output: flags['dry-run'] ? undefined : flags.output,
        },
        progress(!flags.quiet),
      ),
    );
    this.log(formatCalibrate(r));
    return r;
  }
}
