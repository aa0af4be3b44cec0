/** A real `taco serve` (the built binary, port 0) and `taco load …` runs against it, for the load tests. */
import { type ServeReady, type ServerProcess, startTacoServe } from '../../src/load/server-process.js';
import { type CliResult, taco } from '../helpers/cli.js';

export const LOAD_APP = { id: 'load', secret: 'load-secret-123' };

export interface Served {
  proc: ServerProcess<ServeReady>;
  /** Target flags for `taco load`. */
  flags: string[];
  http: string;
  ws: string;
  grpc: string;
}

export async function serve(extra: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const proc = await startTacoServe(['--app', `${LOAD_APP.id}=${LOAD_APP.secret}`, ...extra], { env });
  const http = `http://127.0.0.1:${proc.ready.http}`;
  const ws = `ws://127.0.0.1:${proc.ready.ws}/v1/connect`;
  const grpc = `127.0.0.1:${proc.ready.grpc}`;
  return {
    proc,
    http,
    ws,
    grpc,
    flags: ['--url', http, '--ws-url', ws, '--grpc', grpc, '--app', LOAD_APP.id, '--secret', LOAD_APP.secret],
  };
}

/** No TACO_* from the caller's environment: flags only. */
const cleanEnv = { TACO_URL: '', TACO_APP: '', TACO_SECRET: '', TACO_WS_URL: '', TACO_GRPC: '' };

export function load(args: string[], timeoutMs = 90_000): Promise<CliResult> {
  return taco(['load', ...args], { timeoutMs, env: cleanEnv });
}

/** Runs `taco load … --json`, fails with its output unless it exits 0, returns the parsed JSON. */
export async function loadJson<T>(args: string[], timeoutMs = 90_000): Promise<T> {
  const r = await load([...args, '--json'], timeoutMs);
  if (r.code !== 0) throw new Error(`taco load ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}
