/**
 * The Node runtime flags `taco serve` runs with, and the relaunch that applies them.
 *
 * A gateway allocates a few KB per push that die young, while every settled message it keeps
 * survives: with V8's default 16 MiB semi-space it scavenges ~20 times a second at saturation and
 * spends 11–14 % of its main thread there. A 32 MiB semi-space halves both (docs/benchmarks.md,
 * "Issue 7, sixth round"). V8 sizes its heap when the process starts, so the flag must be on the
 * command line: `taco serve` started without it starts itself again with it, once.
 */
import { spawn } from 'node:child_process';

/** What `taco serve` adds to node's command line; a flag the caller set already (argv or NODE_OPTIONS) wins. */
export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** Set in the relaunched server's environment: the launcher's pid, which it watches. */
export const LAUNCHER_PID_ENV = 'TACO_LAUNCHER_PID';
/** `TACO_NO_RELAUNCH=1`: run `serve` in this process whatever its flags (a supervisor that wants one pid). */
export const NO_RELAUNCH_ENV = 'TACO_NO_RELAUNCH';

const flagName = (f: string) => f.split('=')[0]!.replace(/_/g, '-');

/** The flags of SERVE_NODE_FLAGS that neither node's own arguments nor NODE_OPTIONS set. */
export function missingServeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter(Boolean)].map(flagName));
  return SERVE_NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}

/** Signals the launcher passes on to the server (SIGKILL cannot be caught: the server's watchdog covers it). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * `bin/run.js`: when the command is `serve` and a flag of SERVE_NODE_FLAGS is missing, runs the
 * same command in a child node with it, passes signals on, and ends as the child ended. Returns
 * false when this process should run the command itself.
 */
export async function relaunchServeIfNeeded(argv: readonly string[], script: string): Promise<boolean> {
  if (argv[0] !== 'serve' || process.env[NO_RELAUNCH_ENV] === '1' || process.env[LAUNCHER_PID_ENV])
    return false;
  if (argv.includes('--help') || argv.includes('-h')) return false; // nothing to serve
  const missing = missingServeFlags(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length === 0) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...missing, script, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [LAUNCHER_PID_ENV]: String(process.pid) },
  });
  const forward = (signal: NodeJS.Signals) => () => {
    child.kill(signal);
  };
  const handlers = FORWARDED.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      process.stderr.write(`taco serve: could not start node with ${missing.join(' ')}: ${e.message}\n`);
      resolve({ code: 1, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const [s, h] of handlers) process.off(s, h);
  // End the way the server ended: its exit code, or the signal that killed it.
  if (ended.signal) process.kill(process.pid, ended.signal);
  else process.exitCode = ended.code ?? 1;
  return true;
}

/**
 * In a relaunched server: calls `onGone` once if the launcher disappears (SIGKILLed: nothing passed
 * the signal on), so the server never outlives it holding its ports. Returns the stop function.
 */
function watchLauncher(onGone: () => void, everyMs = 1000): () => void {
  const pid = Number(process.env[LAUNCHER_PID_ENV]);
  if (!Number.isInteger(pid) || pid <= 0) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === pid) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A server's stop requests: SIGINT, SIGTERM, and its launcher's disappearance. `stop` may be called
 * more than once (a relaunched server gets a terminal's Ctrl-C twice: from the terminal and from its
 * launcher) and must act once. Listens from now on; returns what stops listening.
 */
export function onStopRequest(stop: (why: string) => void): () => void {
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const unwatch = watchLauncher(() => stop('launcher gone'));
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    unwatch();
  };
}
