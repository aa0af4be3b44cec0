/**
 * One thread of the gRPC push pool: a `taco.v1.Push` client that issues
 * `Send` calls at its share of the rate, open model (calls go out on time
 * whether or not earlier ones answered, up to `maxInFlight`), and posts its
 * counts to the pool.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../gateway/grpc-api.js';
import { monoMs } from './clock.js';
import { emptyCounts, type PushBodySpec, pushBody } from './push-driver.js';

export interface GrpcThreadData {
  address: string;
  app: string;
  secret: string;
  spec: PushBodySpec;
  ratePerSec: number;
  durationMs: number;
  maxInFlight: number;
  deadlineMs: number;
}

export type GrpcThreadMessage =
  | { type: 'counts'; counts: ReturnType<typeof emptyCounts>; inFlight: number; issuing: boolean }
  | { type: 'done' };

const d = workerData as GrpcThreadData;
const pkg = loadProto('taco/v1/push.proto') as unknown as {
  taco: { v1: { Push: grpc.ServiceClientConstructor } };
};
const client = new pkg.taco.v1.Push(d.address, grpc.credentials.createInsecure());
const meta = new grpc.Metadata();
meta.set('authorization', `Basic ${Buffer.from(`${d.app}:${d.secret}`).toString('base64')}`);
const counts = emptyCounts();
let inFlight = 0;
let issuing = true;

type SendFn = (
  req: unknown,
  m: grpc.Metadata,
  o: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null) => void,
) => void;
const sendRpc = (client as unknown as { Send: SendFn }).Send.bind(client);

function send(t: number): void {
  const b = pushBody(d.spec, t, d.spec.measured) as {
    to: { devices: string[] };
    kind: string;
    priority: string;
    ttl: number;
    data: unknown;
  };
  inFlight++;
  counts.sent++;
  sendRpc(
    {
      to: { devices: b.to.devices },
      kind: b.kind,
      priority: b.priority,
      ttl: b.ttl,
      dataJson: JSON.stringify(b.data),
    },
    meta,
    { deadline: Date.now() + d.deadlineMs },
    (e) => {
      inFlight--;
      if (!e) counts.accepted++;
      else if (e.code === grpc.status.DEADLINE_EXCEEDED || e.code === grpc.status.UNAVAILABLE) {
        counts.errors++;
        counts.statuses[grpc.status[e.code]] = (counts.statuses[grpc.status[e.code]] ?? 0) + 1;
      } else {
        counts.rejected++;
        counts.statuses[grpc.status[e.code] ?? String(e.code)] =
          (counts.statuses[grpc.status[e.code] ?? String(e.code)] ?? 0) + 1;
      }
    },
  );
}

const post = () =>
  parentPort!.postMessage({ type: 'counts', counts, inFlight, issuing } satisfies GrpcThreadMessage);
const reporter = setInterval(post, 200);
const start = monoMs();
const periodMs = 1000 / d.ratePerSec;
const total = Math.floor((d.ratePerSec * d.durationMs) / 1000);
let issued = 0;
const ticker = setInterval(() => {
  const due = Math.min(total, Math.floor((monoMs() - start) / periodMs) + 1);
  for (; issued < due; issued++) {
    if (inFlight >= d.maxInFlight) counts.dropped++;
    else send(start + issued * periodMs);
  }
  if (issued >= total) {
    clearInterval(ticker);
    issuing = false;
    post();
  }
}, 1);

parentPort!.on('message', (m: { type: 'stop' }) => {
  if (m.type !== 'stop') return;
  clearInterval(ticker);
  clearInterval(reporter);
  issuing = false;
  post();
  client.close();
  parentPort!.postMessage({ type: 'done' } satisfies GrpcThreadMessage);
});
