/**
 * The common first phase of every `taco load` run: start the client fleet,
 * sign every client in, and report how that went.
 */
import { TacoError } from '../core/errors.js';
import { monoMs, sleep } from './clock.js';
import { ClientFleet, type FleetSnapshot } from './fleet.js';
import { fmtInt, type Progress } from './progress.js';
import { type ServerFigures, scrapeNodes } from './server-metrics.js';

export interface TargetOptions {
  /** `ws://HOST:PORT/v1/connect` */
  wsUrl: string;
  /** `http://HOST:PORT` of the business API (also /metrics). */
  httpUrl: string;
  /** `HOST:PORT` of the gRPC API. */
  grpcAddress: string;
  app: string;
  secret: string;
}

export interface FleetSettings {
  clients: number;
  perProcess: number;
  perAddress: number;
  /** Sign-ins per second over the fleet; 0 = unpaced. */
  connectRatePerSec: number;
  maxConnectingPerProcess: number;
  devicePrefix: string;
  /** All clients signed in within this, or the run fails. */
  connectTimeoutMs: number;
  heartbeatSec?: number | undefined;
  /** Light clients (bare socket with the SDK's reconnect policy) instead of the SDK. */
  light: boolean;
}

export interface ConnectPhase {
  clients: number;
  processes: number;
  signedIn: number;
  seconds: number;
  signInsPerSec: number;
  attempts: number;
  rejected: number;
  errors: number;
  serverBefore: ServerFigures | undefined;
  serverAfter: ServerFigures | undefined;
}

/** Scrapes the server's /metrics, or undefined if it has none (another server, or it is down). */
export async function serverFigures(httpUrl: string): Promise<ServerFigures | undefined> {
  try {
    return await scrapeNodes(httpUrl);
  } catch {
    return undefined;
  }
}

export function defaultDevicePrefix(): string {
  return `load-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}-`;
}

export async function connectFleet(
  t: TargetOptions,
  f: FleetSettings,
  p: Progress,
): Promise<{ fleet: ClientFleet; phase: ConnectPhase }> {
  const serverBefore = await serverFigures(t.httpUrl);
  const fleet = await ClientFleet.start({
    wsUrl: t.wsUrl,
    app: t.app,
    secret: t.secret,
    clients: f.clients,
    perProcess: f.perProcess,
    perAddress: f.perAddress,
    devicePrefix: f.devicePrefix,
    connectRatePerSec: f.connectRatePerSec,
    maxConnectingPerProcess: f.maxConnectingPerProcess,
    heartbeatSec: f.heartbeatSec,
    light: f.light,
  });
  try {
    const start = monoMs();
    fleet.connect();
    let lastPrint = 0;
    const s: FleetSnapshot = await fleet
      .waitFor(
        (s) => {
          const now = monoMs();
          if (now - lastPrint >= 1000) {
            lastPrint = now;
            const secs = (now - start) / 1000;
            p.line(
              `connecting: ${fmtInt(s.open)}/${fmtInt(f.clients)} signed in, ${fmtInt(s.connecting)} in progress, ` +
                `${fmtInt(s.rejected)} turned away, ${fmtInt(s.open / Math.max(secs, 0.001))}/s, ${secs.toFixed(0)} s`,
            );
          }
          return s.allOpenAt > 0;
        },
        f.connectTimeoutMs,
        `signing in ${f.clients} clients`,
      )
      .catch((e) => {
        const s = fleet.snapshot();
        throw new TacoError(
          (e as TacoError).code ?? 'INTERNAL',
          `${(e as Error).message} (${s.open} signed in, ${s.connecting} in progress, ${s.rejected} turned away, ${s.errors} errors)`,
        );
      });
    p.done();
    const seconds = (s.allOpenAt - start) / 1000;
    await sleep(300);
    const serverAfter = await serverFigures(t.httpUrl);
    return {
      fleet,
      phase: {
        clients: f.clients,
        processes: fleet.processes,
        signedIn: s.open,
        seconds,
        signInsPerSec: f.clients / Math.max(seconds, 0.001),
        attempts: s.attempts,
        rejected: s.rejected,
        errors: s.errors,
        serverBefore,
        serverAfter,
      },
    };
  } catch (e) {
    p.done();
    await fleet.close();
    throw e;
  }
}
