/**
 * The batch benchmark (issue 15): in one run, the raw PKCS#11 ceiling for secp256k1 in-process, then
 * the service signing Ethereum transactions one per call and in SignBatch calls, from client processes
 * of their own. Prints signatures/s, the ratio to raw, batch latency and the service's CPU per
 * signature (from /proc). Nothing here asserts a time.
 *
 *   node dist/bench/batch.js                         # after npm run build
 *   BENCH_SECONDS=2 node dist/bench/batch.js         # a shorter run
 *
 * Run with `--client` (by fork, from this script) it is one load-generating client instead.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSignerPackage } from '../src/api/proto.js';
import type { SignBatchResponse__Output } from '../src/api/generated/signer/v1/SignBatchResponse.js';
import { DEV_PIN } from '../src/config.js';
import { ensureDevToken, SOFTHSM_MODULE } from '../src/keystore/dev-token.js';
import { Hsm } from '../src/keystore/hsm.js';
import { writePolicies } from '../test/helpers/signer.js';
import { runLoadClient } from './lib/load.js';
import { rawSignRate } from './lib/raw-hsm.js';
import { BENCH_KEYS, BENCH_POLICIES, unsignedTransfer } from './lib/requests.js';
import { startService, type BenchService } from './lib/service.js';
import { ms, rate, summarize, table } from './lib/stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4);
const CLIENT_PROCESSES = 2;
const TARGET_OF_RAW = 0.8;
const KEY = BENCH_KEYS.SignEthereumTransaction;

/** What one batch client process runs. */
interface BatchJob {
  port: number;
  batchSize: number;
  /** Batches in flight in this process. */
  inFlight: number;
  seconds: number;
  warmupBatches: number;
  /** First nonce: each process gets its own range, so that no two transactions claim one nonce. */
  sequenceStart: number;
}

interface BatchResult {
  signed: number;
  refused: Record<string, number>;
  seconds: number;
  batchLatenciesMs: number[];
}

async function runBatchClient(job: BatchJob): Promise<BatchResult> {
  const { proto } = loadSignerPackage();
  const client = new proto.signer.v1.Signer(`127.0.0.1:${job.port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  let sequence = job.sequenceStart;
  let signed = 0;
  let refused: Record<string, number> = {};
  const send = () =>
    new Promise<void>((resolve) => {
      const items = Array.from({ length: job.batchSize }, () => ({ signEthereumTransaction: { keyName: KEY.name, unsignedTransaction: unsignedTransfer(sequence++) } }));
      client.SignBatch({ items }, (error: grpc.ServiceError | null, response?: SignBatchResponse__Output) => {
        if (error) refused[grpc.status[error.code] ?? 'ERROR'] = (refused[grpc.status[error.code] ?? 'ERROR'] ?? 0) + job.batchSize;
        for (const result of response?.results ?? []) {
          if (result.result === 'signEthereumTransaction') signed++;
          else refused[result.error?.code ?? 'NONE'] = (refused[result.error?.code ?? 'NONE'] ?? 0) + 1;
        }
        resolve();
      });
    });
  for (let i = 0; i < job.warmupBatches; i++) await send();
  signed = 0;
  refused = {};
  const batchLatenciesMs: number[] = [];
  const started = performance.now();
  const deadline = started + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.inFlight }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        await send();
        batchLatenciesMs.push(performance.now() - sent);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  client.close();
  return { signed, refused, seconds, batchLatenciesMs };
}

/** utime + stime of a process in seconds, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

let nextSequence = 1;
function nextRange(): number {
  const start = nextSequence;
  nextSequence += 10_000_000;
  return start;
}

/** Batched load from the client processes; signatures/s, batch latency and the service's CPU per signature. */
async function batched(service: BenchService, batchSize: number, inFlight: number) {
  const cpuBefore = cpuSeconds(service.child.pid!);
  const results = await Promise.all(
    Array.from({ length: CLIENT_PROCESSES }, () => {
      const child = fork(import.meta.filename, ['--client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const job: BatchJob = { port: service.port, batchSize, inFlight: Math.max(1, inFlight / CLIENT_PROCESSES), seconds: SECONDS, warmupBatches: 4, sequenceStart: nextRange() };
      child.send(job);
      return new Promise<BatchResult>((resolve, reject) => {
        child.once('message', (result) => resolve(result as BatchResult));
        child.once('exit', (code) => code !== 0 && reject(new Error(`batch client exited with ${code}`)));
      });
    }),
  );
  const cpu = cpuSeconds(service.child.pid!) - cpuBefore;
  const signed = results.reduce((sum, r) => sum + r.signed, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  const refused: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.refused)) refused[code] = (refused[code] ?? 0) + n;
  return { perSecond: signed / seconds, latency: summarize(results.flatMap((r) => r.batchLatenciesMs)), cpuPerSignUs: (cpu / signed) * 1e6, refused };
}

/** The same load one transaction per call, through bench/load-client, for comparison. */
async function single(service: BenchService, inFlight: number) {
  const cpuBefore = cpuSeconds(service.child.pid!);
  const results = await Promise.all(
    Array.from({ length: CLIENT_PROCESSES }, () =>
      runLoadClient({ port: service.port, rpc: 'SignEthereumTransaction', inFlight: inFlight / CLIENT_PROCESSES, seconds: SECONDS, warmupCalls: 200, sequenceStart: nextRange() }),
    ),
  );
  const cpu = cpuSeconds(service.child.pid!) - cpuBefore;
  // The warm-up calls are not in `completed`, but their CPU is: a small overestimate per signature.
  const signed = results.reduce((sum, r) => sum + r.completed, 0);
  const refused: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) refused[code] = (refused[code] ?? 0) + n;
  return { perSecond: signed / Math.max(...results.map((r) => r.seconds)), latency: summarize(results.flatMap((r) => r.latenciesMs)), cpuPerSignUs: (cpu / signed) * 1e6, refused };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-batch-'));
  try {
    console.log(`# Batch signing (issue 15) — ${new Date().toISOString().slice(0, 10)}\n`);
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}; HSM sessions: ${SESSIONS}; ${SECONDS} s per step\n`);

    ensureDevToken(join(dir, 'raw-softhsm'), 'raw', DEV_PIN);
    const hsm = Hsm.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'raw', pin: DEV_PIN, sessions: SESSIONS });
    const raw = await rawSignRate(hsm, 'secp256k1', 'ecdsa-digest', 64, SECONDS);
    hsm.close();

    const serviceDir = join(dir, 'service');
    const service = await startService(serviceDir, writePolicies(serviceDir, BENCH_POLICIES), SESSIONS);
    try {
      await service.call(KEY.create.method, KEY.create.request);
      const steps: Array<[string, Awaited<ReturnType<typeof batched>>]> = [];
      steps.push(['one per call, 64 in flight', await single(service, 64)]);
      for (const [batchSize, inFlight] of [[16, 4], [64, 4], [256, 2]] as const) {
        steps.push([`batches of ${batchSize}, ${inFlight} in flight`, await batched(service, batchSize, inFlight)]);
      }
      console.log(`## SignEthereumTransaction: one per call and in SignBatch (raw secp256k1 ceiling ${rate(raw)}/s)\n`);
      console.log(
        table(
          ['load', 'signs/s', 'of raw', 'call p50 ms', 'call p99 ms', 'service CPU per signature µs', 'refused'],
          steps.map(([label, s]) => [
            label,
            rate(s.perSecond),
            (s.perSecond / raw).toFixed(2),
            ms(s.latency.p50),
            ms(s.latency.p99),
            Math.round(s.cpuPerSignUs),
            Object.entries(s.refused).map(([code, n]) => `${code} ${n}`).join(', ') || '0',
          ]),
        ) + '\n',
      );
      const best = Math.max(...steps.slice(1).map(([, s]) => s.perSecond));
      const ratio = best / raw;
      console.log(table(['target', 'goal', 'measured', ''], [['batched SignEthereumTransaction / raw secp256k1', `>= ${TARGET_OF_RAW}`, ratio.toFixed(2), ratio >= TARGET_OF_RAW ? 'met' : 'MISSED']]) + '\n');
    } finally {
      await service.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--client')) {
  process.once('message', (job) => {
    void runBatchClient(job as BatchJob).then((result) => process.send!(result, () => process.exit(0)));
  });
} else {
  await main();
}
