/**
 * The performance benchmark (issue 7): the raw HSM ceiling, then the real service end to end over gRPC
 * from separate client processes, in one run on one machine. Prints Markdown tables (what BENCHMARKS.md
 * records) and writes every figure to bench/last-run.json. Nothing here asserts a time.
 *
 *   npm run bench                          # everything, about 8 minutes on 2 cores
 *   BENCH_SECONDS=2 BENCH_QUICK=1 npm run bench   # a smoke run
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { writePolicies } from '../test/helpers/signer.js';
import type { LoadJob } from './load-client.js';
import { runLoadClient } from './lib/load.js';
import { openRawHsm, rawSignRate } from './lib/raw-hsm.js';
import { BENCH_KEYS, BENCH_POLICIES, BENCH_RPCS, type BenchRpc } from './lib/requests.js';
import { rssBytes, scrape, startService, type BenchService } from './lib/service.js';
import { ms, rate, summarize, table, type LatencySummary } from './lib/stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const QUICK = process.env.BENCH_QUICK === '1';
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4);
const SWEEP = [1, 4, 16, 64];
// RSS is sampled every tenth of the way: one sample can catch a garbage collection half done.
const MEMORY_TOTAL = QUICK ? 20_000 : 200_000;
const MEMORY_CALLS = Array.from({ length: 10 }, (_, i) => ((i + 1) * MEMORY_TOTAL) / 10);
const STARTUP_KEYS = QUICK ? 1_000 : 10_000;
const RAW_FOR: Readonly<Record<BenchRpc, 'secp256k1' | 'p256' | 'ed25519'>> = { SignEthereumTransaction: 'secp256k1', SignJwt: 'p256', SignBytes: 'ed25519' };
const TARGET_RATIO: Readonly<Record<BenchRpc, number | undefined>> = { SignEthereumTransaction: 0.8, SignJwt: 0.5, SignBytes: undefined };
const EVENT_LOOP_RESOLUTION_MS = 10; // prom-client's default eventLoopMonitoringPrecision

let nextSequence = 1;

/** Runs one load step from `processes` client processes sharing `inFlight`, and merges what they saw. */
async function load(service: BenchService, rpc: BenchRpc, step: { inFlight: number; ratePerSecond?: number; calls?: number; seconds?: number }) {
  const processes = step.inFlight === 1 && !step.ratePerSecond ? 1 : 2;
  await scrape(service.metricsUrl, 'nodejs_eventloop_lag_p99_seconds'); // resets the histogram
  const results = await Promise.all(
    Array.from({ length: processes }, () => {
      const job: LoadJob = {
        port: service.port,
        rpc,
        inFlight: Math.max(1, Math.round(step.inFlight / processes)),
        ...(step.ratePerSecond ? { ratePerSecond: step.ratePerSecond / processes } : {}),
        ...(step.calls ? { calls: Math.ceil(step.calls / processes) } : {}),
        seconds: step.seconds ?? SECONDS,
        warmupCalls: 200,
        sequenceStart: nextSequence,
      };
      nextSequence += 10_000_000;
      return runLoadClient(job);
    }),
  );
  // prom-client samples the loop with a 10 ms timer and reports the whole interval: the delay is what is beyond it.
  const eventLoopP99Ms = Math.max(0, (await scrape(service.metricsUrl, 'nodejs_eventloop_lag_p99_seconds')) * 1000 - EVENT_LOOP_RESOLUTION_MS);
  const completed = results.reduce((sum, r) => sum + r.completed, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  const errors: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  const latency: LatencySummary = summarize(results.flatMap((r) => r.latenciesMs));
  return { inFlight: step.inFlight, ratePerSecond: step.ratePerSecond, perSecond: completed / seconds, latency, eventLoopP99Ms, errors };
}

async function rawCeilings(dir: string) {
  const hsm = openRawHsm(dir, SESSIONS);
  const ceilings: Record<string, number> = {};
  for (const type of ['secp256k1', 'p256', 'ed25519'] as const) {
    ceilings[type] = await rawSignRate(hsm, type, type === 'ed25519' ? 'eddsa' : 'ecdsa-digest', 64, SECONDS);
  }
  hsm.close();
  return ceilings;
}

async function startupWithKeys(dir: string) {
  const policyDir = writePolicies(dir, BENCH_POLICIES);
  let service = await startService(dir, policyDir, SESSIONS);
  const emptyStartupMs = service.startupMs;
  const created = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < STARTUP_KEYS) await service.call('CreateKey', { name: `bench/startup/${next++}`, type: 'KEY_TYPE_ED25519' });
    }),
  );
  const createSeconds = (performance.now() - created) / 1000;
  await service.stop();
  service = await startService(dir, policyDir, SESSIONS);
  const startupMs = service.startupMs;
  const firstSign = performance.now();
  await service.call('SignBytes', { keyName: `bench/startup/${STARTUP_KEYS - 1}`, message: Buffer.from('hello'), algorithm: 'SIGN_BYTES_ALGORITHM_ED25519' });
  const firstSignMs = performance.now() - firstSign;
  await service.stop();
  return { keys: STARTUP_KEYS, createSeconds, emptyStartupMs, startupMs, firstSignMs };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`;
try {
  console.log(`# npm run bench — ${new Date().toISOString().slice(0, 10)}\n\nmachine: ${machine}\nHSM sessions: ${SESSIONS}; ${SECONDS} s per step\n`);

  const raw = await rawCeilings(dir);
  console.log('## Raw ceiling: in-process SoftHSM signing, 64 in flight\n');
  console.log(table(['key type', 'signs/s'], Object.entries(raw).map(([type, perSecond]) => [type, rate(perSecond)])) + '\n');

  const serviceDir = join(dir, 'service');
  const service = await startService(serviceDir, writePolicies(serviceDir, BENCH_POLICIES), SESSIONS);
  for (const rpc of BENCH_RPCS) await service.call(BENCH_KEYS[rpc].create.method, BENCH_KEYS[rpc].create.request);

  const sweeps: Record<string, Awaited<ReturnType<typeof load>>[]> = {};
  const halfPeak: Record<string, Awaited<ReturnType<typeof load>>> = {};
  for (const rpc of BENCH_RPCS) {
    sweeps[rpc] = [];
    for (const inFlight of SWEEP) sweeps[rpc].push(await load(service, rpc, { inFlight }));
    const peak = Math.max(...sweeps[rpc].map((s) => s.perSecond));
    halfPeak[rpc] = await load(service, rpc, { inFlight: 0, ratePerSecond: Math.round(peak / 2) });
    const ceiling = raw[RAW_FOR[rpc]]!;
    console.log(`## ${rpc} end to end (raw ${RAW_FOR[rpc]} ceiling ${rate(ceiling)}/s)\n`);
    const rows = [...sweeps[rpc], halfPeak[rpc]].map((s) => [
      s.ratePerSecond ? `open loop at ${rate(s.ratePerSecond)}/s (half of peak)` : `${s.inFlight} in flight`,
      rate(s.perSecond),
      (s.perSecond / ceiling).toFixed(2),
      ms(s.latency.p50),
      ms(s.latency.p99),
      ms(s.latency.p999),
      ms(s.eventLoopP99Ms),
      Object.entries(s.errors).map(([code, n]) => `${code} ${n}`).join(', ') || '0',
    ]);
    console.log(table(['load', 'signs/s', 'of raw', 'p50 ms', 'p99 ms', 'p99.9 ms', 'event loop p99 ms', 'errors'], rows) + '\n');
  }

  const rss: number[] = [];
  let done = 0;
  for (const target of MEMORY_CALLS) {
    await load(service, 'SignEthereumTransaction', { inFlight: 16, calls: target - done });
    done = target;
    rss.push(rssBytes(service.child.pid!));
  }
  console.log('## Memory: service RSS after N SignEthereumTransaction\n');
  console.log(table(['signatures', 'RSS MiB'], MEMORY_CALLS.map((n, i) => [rate(n), (rss[i]! / 2 ** 20).toFixed(1)])));
  // The last three samples' median against the first sample (after 10% of the signatures).
  const [, lateMedian] = [...rss.slice(-3)].sort((a, b) => a - b);
  const growth = lateMedian! / rss[0]! - 1;
  console.log(`growth: ${(growth * 100).toFixed(1)}% (median of the last three samples against the first; target: within 10%)\n`);
  await service.stop();

  const startup = await startupWithKeys(join(dir, 'startup'));
  console.log('## Start-up\n');
  console.log(
    table(
      ['keys on the token', 'spawn to listening', 'first signature after start'],
      [
        ['0', `${ms(startup.emptyStartupMs)} ms`, '-'],
        [rate(startup.keys), `${ms(startup.startupMs)} ms`, `${ms(startup.firstSignMs)} ms`],
      ],
    ) + `\n(creating the ${rate(startup.keys)} keys took ${startup.createSeconds.toFixed(0)} s)\n`,
  );

  const results = { date: new Date().toISOString(), machine, sessions: SESSIONS, secondsPerStep: SECONDS, raw, sweeps, halfPeak, memory: { calls: MEMORY_CALLS, rssBytes: rss }, startup };
  writeFileSync(join(import.meta.dirname, '..', '..', 'bench', 'last-run.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('figures written to bench/last-run.json\n');

  const peakOf = (rpc: BenchRpc) => Math.max(...sweeps[rpc]!.map((s) => s.perSecond));
  const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const targetRows: Array<Array<string>> = [];
  for (const rpc of BENCH_RPCS) {
    const target = TARGET_RATIO[rpc];
    if (target === undefined) continue;
    const ratio = peakOf(rpc) / raw[RAW_FOR[rpc]]!;
    targetRows.push([`${rpc} peak / raw ${RAW_FOR[rpc]}`, `>= ${target}`, ratio.toFixed(2), check(ratio >= target)]);
  }
  for (const rpc of BENCH_RPCS) {
    const p99 = halfPeak[rpc]!.latency.p99;
    targetRows.push([`${rpc} p99 at half of peak`, '< 10 ms', `${ms(p99)} ms`, check(p99 < 10)]);
  }
  const worstLoop = Math.max(...BENCH_RPCS.flatMap((rpc) => sweeps[rpc]!.map((s) => s.eventLoopP99Ms)));
  targetRows.push(['event-loop delay p99 under load (worst step)', '< 5 ms', `${ms(worstLoop)} ms`, check(worstLoop < 5)]);
  targetRows.push([`RSS after ${rate(MEMORY_TOTAL)} vs ${rate(MEMORY_CALLS[0]!)} signatures`, 'within 10%', `${(growth * 100).toFixed(1)}%`, check(Math.abs(growth) <= 0.1)]);
  targetRows.push([`start-up with ${rate(startup.keys)} keys`, '< 5 s', `${(startup.startupMs / 1000).toFixed(2)} s`, check(startup.startupMs < 5000)]);
  console.log('## Targets\n');
  console.log(table(['target', 'goal', 'measured', ''], targetRows));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
