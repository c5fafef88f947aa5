/**
 * The overhead benchmark (issue 15): in one run, the raw PKCS#11 ceiling in-process, a bare gRPC
 * server (bench/bare-server.ts: the real proto and HSM layer, nothing else) and the service, under the
 * same load, each with signatures/s and the server's CPU per call read from /proc (for the raw
 * ceiling, this process's). What the service costs beyond the bare server is its own work. Prints
 * Markdown tables and the targets. Nothing here asserts a time.
 *
 *   npm run bench                                          # runs this last
 *   node dist/bench/overhead.js                            # alone (after npm run build), about 1.5 minutes
 *   BENCH_SECONDS=2 BENCH_QUICK=1 node dist/bench/overhead.js    # a smoke run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { writePolicies } from '../test/helpers/signer.js';
import { openRawHsm, rawSignCost } from './lib/raw-hsm.js';
import { BENCH_KEYS, BENCH_POLICIES, BENCH_RPCS, type BenchRpc } from './lib/requests.js';
import { startBareServer, startService, type BenchService } from './lib/service.js';
import { ms, rate, table } from './lib/stats.js';
import { check, errorText, loadStep, micros, type StepResult } from './lib/step.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const QUICK = process.env.BENCH_QUICK === '1';
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4);
const IN_FLIGHT = 64;
const WARMUP_SECONDS = QUICK ? 1 : 2;
const RAW = { SignEthereumTransaction: ['secp256k1', 'ecdsa-digest'], SignJwt: ['p256', 'ecdsa-digest'], SignBytes: ['ed25519', 'eddsa'] } as const;
const SERVICE_PER_BARE_THROUGHPUT = 0.9;
const EXTRA_CPU_SECONDS = 100e-6;

/** Each RPC at 64 in flight against one server, its CPU read from /proc. */
async function measureServer(server: BenchService): Promise<Record<BenchRpc, StepResult>> {
  const steps = {} as Record<BenchRpc, StepResult>;
  for (const rpc of BENCH_RPCS) {
    await loadStep([server.port], rpc, IN_FLIGHT, WARMUP_SECONDS); // JIT and connections: not measured
    steps[rpc] = await loadStep([server.port], rpc, IN_FLIGHT, SECONDS, { server: { pids: () => [server.child.pid!] } });
  }
  await server.stop();
  return steps;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-overhead-'));
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; load average ${loadavg()[0]!.toFixed(1)} at the start`;
try {
  console.log(`# Service overhead (issue 15) — ${new Date().toISOString().slice(0, 10)}\n`);
  console.log(`machine: ${machine}\nHSM sessions: ${SESSIONS}; ${SECONDS} s per step; ${IN_FLIGHT} in flight from two load-client processes\n`);

  const hsm = openRawHsm(dir, SESSIONS);
  const raw = {} as Record<BenchRpc, { perSecond: number; cpuPerSign: number }>;
  for (const rpc of BENCH_RPCS) raw[rpc] = await rawSignCost(hsm, RAW[rpc][0], RAW[rpc][1], IN_FLIGHT, SECONDS);
  hsm.close();

  const bare = await measureServer(await startBareServer(join(dir, 'bare'), SESSIONS));
  const serviceDir = join(dir, 'service');
  const service = await startService(serviceDir, writePolicies(serviceDir, BENCH_POLICIES), SESSIONS, { grpcOnly: true });
  for (const rpc of BENCH_RPCS) await service.call(BENCH_KEYS[rpc].create.method, BENCH_KEYS[rpc].create.request);
  const full = await measureServer(service);

  const targets: string[][] = [];
  for (const rpc of BENCH_RPCS) {
    const [keyType] = RAW[rpc];
    console.log(`## ${rpc} (${keyType})\n`);
    const row = (what: string, s: StepResult) => [
      what,
      rate(s.perSecond),
      (s.perSecond / bare[rpc].perSecond).toFixed(2),
      ms(s.latency.p50),
      ms(s.latency.p99),
      micros(s.cpuPerCall.server),
      errorText(s.errors),
    ];
    console.log(
      table(
        ['what', 'signatures/s', 'of bare server', 'p50 ms', 'p99 ms', 'server CPU per call µs', 'errors'],
        [
          [`raw PKCS#11 signing in-process (the project's HSM layer, ${SESSIONS} sessions)`, rate(raw[rpc].perSecond), (raw[rpc].perSecond / bare[rpc].perSecond).toFixed(2), '-', '-', micros(raw[rpc].cpuPerSign), '0'],
          row('a bare gRPC server: same proto, same HSM layer, only hash + sign', bare[rpc]),
          row('the service (bench policies, SQLite, durable audit)', full[rpc]),
        ],
      ) + '\n',
    );
    const ratio = full[rpc].perSecond / bare[rpc].perSecond;
    const extra = full[rpc].cpuPerCall.server! - bare[rpc].cpuPerCall.server!;
    targets.push([`${rpc}: service / bare server, signatures/s`, `>= ${SERVICE_PER_BARE_THROUGHPUT}x`, `${ratio.toFixed(2)}x`, check(ratio >= SERVICE_PER_BARE_THROUGHPUT)]);
    targets.push([`${rpc}: service CPU per call above the bare server's`, `<= ${micros(EXTRA_CPU_SECONDS)} µs`, `${micros(extra)} µs`, check(extra <= EXTRA_CPU_SECONDS)]);
  }
  console.log('## Targets\n');
  console.log(table(['target', 'goal', 'measured', ''], targets) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
