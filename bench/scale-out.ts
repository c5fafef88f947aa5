/**
 * The scale-out benchmark (issue 14): the same load on one replica on SQLite, one replica on
 * PostgreSQL, and three replicas on one PostgreSQL, in one run on one machine. For each: signatures/s,
 * p50/p99, and CPU per request of the service processes and of PostgreSQL (all its processes), read
 * from /proc. Prints Markdown tables (what BENCHMARKS.md records), the targets, and the projection to
 * bigger machines from CPU per request. Nothing here asserts a time.
 *
 *   npm run bench                                          # runs this after the other scripts
 *   node dist/bench/scale-out.js                           # alone (after npm run build), about 2 minutes
 *   BENCH_SECONDS=2 BENCH_QUICK=1 node dist/bench/scale-out.js   # a smoke run
 *   BENCH_PG_FSYNC=off node dist/bench/scale-out.js        # PostgreSQL without fsync: what the disk costs
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresServer } from '../test/helpers/postgres.js';
import { writePolicies } from '../test/helpers/signer.js';
import type { CpuGroup } from './lib/proc-cpu.js';
import { openRawHsm, rawSignCost } from './lib/raw-hsm.js';
import { BENCH_KEYS, BENCH_POLICIES } from './lib/requests.js';
import { startService, type BenchService } from './lib/service.js';
import { ms, rate, table } from './lib/stats.js';
import { check, errorText, loadStep, micros, type StepResult } from './lib/step.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const QUICK = process.env.BENCH_QUICK === '1';
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4);
const REPLICAS = 3;
const STEPS = [64, 16];
const WARMUP_SECONDS = QUICK ? 1 : 2;
const RPC = 'SignEthereumTransaction';
const PROJECTED_CORES = [8, 16, 32, 64];

interface Setup {
  name: string;
  replicas: BenchService[];
  postgres?: PostgresServer;
}

/** The postmaster's pid, from the file PostgreSQL keeps in its data directory. */
function postmasterPid(server: PostgresServer): number {
  return Number(readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/**
 * Replicas on one data directory (one SoftHSM token) and one database. The first starts alone and
 * creates the key: SoftHSM 2.6 races when several processes create objects at first boot.
 */
async function startReplicas(dataDir: string, count: number, database?: string): Promise<BenchService[]> {
  const policyDir = writePolicies(dataDir, BENCH_POLICIES);
  const options = { grpcOnly: true, ...(database ? { database } : {}) };
  const first = await startService(dataDir, policyDir, SESSIONS, options);
  await first.call(BENCH_KEYS[RPC].create.method, BENCH_KEYS[RPC].create.request);
  const replicas = [first];
  while (replicas.length < count) replicas.push(await startService(dataDir, policyDir, SESSIONS, options));
  return replicas;
}

async function measure(setup: Setup): Promise<StepResult[]> {
  const ports = setup.replicas.map((r) => r.port);
  const cpu: Record<string, CpuGroup> = { service: { pids: () => setup.replicas.map((r) => r.child.pid!) } };
  if (setup.postgres) cpu.postgres = { tree: postmasterPid(setup.postgres) };
  await loadStep(ports, RPC, 64, WARMUP_SECONDS); // JIT, connections, pools: not measured
  const steps: StepResult[] = [];
  for (const inFlight of STEPS) steps.push(await loadStep(ports, RPC, inFlight, SECONDS, cpu));
  await Promise.all(setup.replicas.map((r) => r.stop()));
  return steps;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; load average ${loadavg()[0]!.toFixed(1)} at the start`;
let postgres: PostgresServer | undefined;
try {
  console.log(`# Scale-out (issue 14) — ${new Date().toISOString().slice(0, 10)}\n`);
  console.log(`machine: ${machine}\nPostgreSQL fsync ${process.env.BENCH_PG_FSYNC === 'off' ? 'OFF' : 'on'}; HSM sessions per replica: ${SESSIONS}; ${SECONDS} s per step; ${RPC}, two load-client processes, calls spread over the replicas in turn\n`);

  // What one SoftHSM signature costs in CPU: it runs inside each service process (libuv's threads).
  const hsm = openRawHsm(dir, SESSIONS);
  const raw = await rawSignCost(hsm, 'secp256k1', 'ecdsa-digest', 64, SECONDS);
  hsm.close();

  const results: Array<{ name: string; replicas: number; steps: StepResult[] }> = [];
  const sqlite = await startReplicas(join(dir, 'sqlite'), 1);
  results.push({ name: 'one replica, SQLite', replicas: 1, steps: await measure({ name: 'sqlite', replicas: sqlite }) });

  // fsync on, as production runs (the tests turn it off); BENCH_PG_FSYNC=off shows what the disk costs.
  postgres = await startPostgres({ fsync: process.env.BENCH_PG_FSYNC !== 'off' });
  const one = await startReplicas(join(dir, 'pg-one'), 1, await postgres.createDatabase());
  results.push({ name: 'one replica, PostgreSQL', replicas: 1, steps: await measure({ name: 'pg-one', replicas: one, postgres }) });
  const three = await startReplicas(join(dir, 'pg-three'), REPLICAS, await postgres.createDatabase());
  results.push({ name: `${REPLICAS} replicas, one PostgreSQL`, replicas: REPLICAS, steps: await measure({ name: 'pg-three', replicas: three, postgres }) });

  console.log(`## ${RPC}: signatures/s, latency and CPU per request\n`);
  const rows = results.flatMap(({ name, steps }) =>
    steps.map((s) => [
      name,
      `${s.inFlight} in flight`,
      rate(s.perSecond),
      ms(s.latency.p50),
      ms(s.latency.p99),
      micros(s.cpuPerCall.service),
      micros(s.cpuPerCall.postgres),
      micros((s.cpuPerCall.service ?? 0) + (s.cpuPerCall.postgres ?? 0)),
      errorText(s.errors),
    ]),
  );
  console.log(
    table(['setup', 'load', 'signatures/s', 'p50 ms', 'p99 ms', 'service CPU µs/request', 'PostgreSQL CPU µs/request', 'total µs/request', 'errors'], rows) + '\n',
  );
  console.log(
    `Service CPU includes SoftHSM, which signs inside each service process: in-process it costs ${micros(raw.cpuPerSign)} µs of CPU per secp256k1 ` +
      `signature (raw ceiling ${rate(raw.perSecond)}/s, 64 in flight, same run).\n`,
  );

  const peak = (i: number) => results[i]!.steps[0]!; // the 64-in-flight step
  const throughputRatio = peak(1).perSecond / peak(0).perSecond;
  const cpuRatio = peak(1).cpuPerCall.service! / peak(0).cpuPerCall.service!;
  console.log('## Targets (64 in flight)\n');
  console.log(
    table(
      ['target', 'goal', 'measured', ''],
      [
        ['one replica on PostgreSQL / SQLite, signatures/s', '>= 0.8x', `${throughputRatio.toFixed(2)}x (${rate(peak(1).perSecond)} / ${rate(peak(0).perSecond)})`, check(throughputRatio >= 0.8)],
        ['service CPU per request, PostgreSQL / SQLite', '<= 1.25x', `${cpuRatio.toFixed(2)}x (${micros(peak(1).cpuPerCall.service)} / ${micros(peak(0).cpuPerCall.service)} µs)`, check(cpuRatio <= 1.25)],
        [`${REPLICAS} replicas / one replica on PostgreSQL, signatures/s`, 'reported (2 cores: no gain possible)', `${(peak(2).perSecond / peak(1).perSecond).toFixed(2)}x`, '-'],
      ],
    ) + '\n',
  );

  // Throughput on a machine with N cores for the servers, if CPU were the only limit: N / CPU per request.
  const s3 = peak(2);
  const withSoftHsm = s3.cpuPerCall.service! + s3.cpuPerCall.postgres!;
  const withDeviceHsm = withSoftHsm - raw.cpuPerSign;
  console.log(`## Projection from ${REPLICAS} replicas' CPU per request (64 in flight)\n`);
  console.log(
    `service ${micros(s3.cpuPerCall.service)} µs (of which SoftHSM about ${micros(raw.cpuPerSign)} µs) + PostgreSQL ${micros(s3.cpuPerCall.postgres)} µs = ` +
      `${micros(withSoftHsm)} µs per request; with an HSM that signs on its own silicon, ${micros(withDeviceHsm)} µs. Clients run elsewhere.\n`,
  );
  console.log(
    table(
      ['cores for the service and PostgreSQL', 'SoftHSM in the service, signatures/s', 'device HSM, signatures/s'],
      PROJECTED_CORES.map((n) => [String(n), `${n} / ${micros(withSoftHsm)} µs = ${rate(n / withSoftHsm)}`, `${n} / ${micros(withDeviceHsm)} µs = ${rate(n / withDeviceHsm)}`]),
    ) + '\n',
  );
} finally {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
}
