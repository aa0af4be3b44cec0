import { TacoCommand } from '../../cli/base-command.js';
import { formatConnect, runConnect } from '../../load/connect.js';
import {
  durationFlag,
  fleetFlags,
  fleetFrom,
  runChecked,
  targetFlags,
  targetFrom,
} from '../../load/flags.js';
import { progress } from '../../load/progress.js';

export default class LoadConnect extends TacoCommand {
  static override summary = 'Open N signed-in client sessions against a running `taco serve` and hold them';
  static override description =
    'Clients are the real SDK (TacoClient), spread over as many processes as --per-process needs and over ' +
    'loopback source addresses 127.0.0.2, 127.0.0.3, … (--per-address each). They sign in, heartbeat for --hold, ' +
    'then close; the summary gives the sign-in rate and the server memory per session (from its /metrics).';
  static override examples = [
    '<%= config.bin %> load connect --app demo --secret S --clients 10000',
    '<%= config.bin %> load connect --app demo --secret S --clients 100000 --hold 60s --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    hold: durationFlag({
      description: 'how long to hold the sessions open (with heartbeats) after all signed in',
      default: 10_000,
      minMs: 0,
      maxMs: 3_600_000,
    }),
  };

  async run() {
    const { flags } = await this.parse(LoadConnect);
    const r = await runChecked(this, () =>
      runConnect(
        { target: targetFrom(flags), fleet: fleetFrom(flags), holdMs: flags.hold },
        progress(!flags.quiet),
      ),
    );
    this.log(formatConnect(r));
    return r;
  }
}
