/**
 * One load-generating client process for the end-to-end benchmark (forked by bench/run.ts, so that the
 * service's event loop is not also the client's). Receives a LoadJob over IPC, runs it against the
 * service over gRPC, and sends back every latency and error count.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSignerPackage } from '../src/api/proto.js';
import { loadCall, type LoadKind } from './lib/requests.js';

export interface LoadJob {
  port: number;
  /** Several services (replicas) instead of `port`: calls take them in turn, as a round-robin balancer would. */
  ports?: number[];
  rpc: LoadKind;
  /** Closed loop: this many calls in flight. Open loop (`ratePerSecond`): calls start on schedule. */
  inFlight: number;
  ratePerSecond?: number;
  seconds: number;
  /** Closed loop only: stop after this many calls instead of after `seconds`. */
  calls?: number;
  /** Calls before measuring starts (connections, JIT, caches). */
  warmupCalls: number;
  /** First sequence number (nonces): each process gets its own range. */
  sequenceStart: number;
}

export interface LoadResult {
  /** The client process, to match what bench/lib/loop-probe.ts recorded in it. */
  pid: number;
  /** Successful calls (failures are only counted in `errors`). */
  completed: number;
  seconds: number;
  latenciesMs: number[];
  /** When each of those calls started (was due, in the open loop), in milliseconds since the epoch. */
  startsMs: number[];
  errors: Record<string, number>;
  /** Every measured call by part of the load and outcome (`OK` or the gRPC status name). */
  outcomes: Record<string, Record<string, number>>;
}

async function run(job: LoadJob): Promise<LoadResult> {
  const { proto } = loadSignerPackage();
  const clients = (job.ports ?? [job.port]).map((port) => new proto.signer.v1.Signer(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
  let sequence = job.sequenceStart;
  let errors: Record<string, number> = {};
  let outcomes: Record<string, Record<string, number>> = {};
  const call = () =>
    new Promise<boolean>((resolve) => {
      const client = clients[sequence % clients.length]!;
      const { method, request, label } = loadCall(job.rpc, sequence++);
      const rpc = (client as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null) => void) => void>)[method]!.bind(client);
      rpc(request, (error) => {
        const outcome = error ? (grpc.status[error.code] ?? String(error.code)) : 'OK';
        if (error) errors[outcome] = (errors[outcome] ?? 0) + 1;
        const byOutcome = (outcomes[label] ??= {});
        byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
        resolve(!error);
      });
    });

  for (let i = 0; i < job.warmupCalls; i++) await call();
  errors = {};
  outcomes = {};

  const latenciesMs: number[] = [];
  const startsMs: number[] = [];
  const done = (start: number) => {
    latenciesMs.push(performance.now() - start);
    startsMs.push(performance.timeOrigin + start);
  };
  const started = performance.now();
  const deadline = started + job.seconds * 1000;
  if (job.ratePerSecond) {
    // Open loop: latency counts from when the call was due, so a stall is not hidden by sending less.
    const interval = 1000 / job.ratePerSecond;
    const inFlight: Promise<void>[] = [];
    for (let due = started; due < deadline; due += interval) {
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      inFlight.push(
        call().then((ok) => {
          if (ok) done(due);
        }),
      );
    }
    await Promise.all(inFlight);
  } else {
    let remaining = job.calls ?? Infinity;
    await Promise.all(
      Array.from({ length: job.inFlight }, async () => {
        while (remaining-- > 0 && (job.calls !== undefined || performance.now() < deadline)) {
          const sent = performance.now();
          if (await call()) done(sent);
        }
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  for (const client of clients) client.close();
  return { pid: process.pid, completed: latenciesMs.length, seconds, latenciesMs, startsMs, errors, outcomes };
}

process.once('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`load client failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
