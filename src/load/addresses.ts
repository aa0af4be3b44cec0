/**
 * Source addresses and process plan for load clients. Every process holds at
 * most `perProcess` sockets (this machine caps a process at 20,000 open
 * files), and connections are spread over 127.0.0.2, 127.0.0.3, … about
 * `perAddress` per address: binding an ephemeral port slows down past ~5,000
 * in use per source address, and each address has only ~28k ports.
 */
import { TacoError } from '../core/errors.js';

/** Hard ceiling of sockets per load process (the per-process open-file cap is 20,000). */
export const MAX_PER_PROCESS = 19_000;
export const MAX_CLIENTS = 200_000;

/** The k-th source address: 127.0.0.2, …, 127.0.0.254, 127.0.1.1, … (never .0 or .255). */
export function sourceAddress(k: number): string {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`bad address index ${k}`);
  const perOctet = 254; // hosts 1..254
  const n = k + 1; // skip 127.0.0.1: that is where the server listens
  const third = Math.floor(n / perOctet);
  const fourth = (n % perOctet) + 1;
  if (third > 255) throw new TacoError('BAD_INPUT', 'out of loopback source addresses');
  return `127.0.${third}.${fourth}`;
}

/** The source address of client `i` (0-based). */
export function addressOfClient(i: number, perAddress: number): string {
  return sourceAddress(Math.floor(i / perAddress));
}

export interface Slice {
  /** First client index (inclusive) and the end (exclusive). */
  from: number;
  to: number;
}

/** Splits `clients` over as few processes as hold at most `perProcess` each, evenly. */
export function planProcesses(clients: number, perProcess: number): Slice[] {
  if (!(clients >= 1 && clients <= MAX_CLIENTS))
    throw new TacoError('BAD_INPUT', `clients must be 1..${MAX_CLIENTS}, got ${clients}`);
  if (!(perProcess >= 1 && perProcess <= MAX_PER_PROCESS))
    throw new TacoError('BAD_INPUT', `per-process must be 1..${MAX_PER_PROCESS}, got ${perProcess}`);
  const n = Math.ceil(clients / perProcess);
  const base = Math.floor(clients / n);
  const extra = clients % n;
  const out: Slice[] = [];
  let from = 0;
  for (let p = 0; p < n; p++) {
    const size = base + (p < extra ? 1 : 0);
    out.push({ from, to: from + size });
    from += size;
  }
  return out;
}
