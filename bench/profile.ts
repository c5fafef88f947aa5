/**
 * Profiles the service's main thread at peak (issue 15): the service runs under `node --cpu-prof`,
 * takes SignEthereumTransaction at 64 in flight from two client processes, then stops and writes its
 * .cpuprofile; this prints the top self-time functions and areas of the measured step. Not part of
 * `npm run bench` (profiling slows the service down); BENCHMARKS.md records what it printed.
 *
 *   node dist/bench/profile.js                   # after npm run build; SQLite
 *   BENCH_DATABASE=postgres node dist/bench/profile.js   # one replica on PostgreSQL
 *   node dist/bench/profile.js some.cpuprofile   # summarize an existing profile only
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresServer } from '../test/helpers/postgres.js';
import { writePolicies } from '../test/helpers/signer.js';
import { monotonicMicros, summarizeProfile, type CpuProfile, type SelfTime } from './lib/cpu-profile.js';
import { BENCH_KEYS, BENCH_POLICIES } from './lib/requests.js';
import { startService } from './lib/service.js';
import { rate, table } from './lib/stats.js';
import { loadStep, micros } from './lib/step.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4);
const RPC = 'SignEthereumTransaction';
/** BENCH_DATABASE=postgres profiles one replica on a PostgreSQL started here (fsync on). */
const ON_POSTGRES = process.env.BENCH_DATABASE === 'postgres';

function print(profile: CpuProfile, window?: { from: number; to: number }): void {
  const summary = summarizeProfile(profile, window);
  const rows = (items: SelfTime[]) => items.map((s) => [s.name.replaceAll('|', '\\|'), s.ms.toFixed(0), `${(s.share * 100).toFixed(1)}%`]);
  // Sampled wall time: on a busy machine "busy" includes waiting for a core, so only the shares compare.
  console.log(`main thread: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle (wall time)\n`);
  console.log('### Self time by area (package, folder of ours, Node, V8)\n');
  console.log(table(['area', 'self ms', 'of busy'], rows(summary.areas)) + '\n');
  console.log('### Top functions by self time\n');
  console.log(table(['function', 'self ms', 'of busy'], rows(summary.functions)) + '\n');
}

const given = process.argv[2];
if (given) {
  print(JSON.parse(readFileSync(given, 'utf8')) as CpuProfile);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
  let postgres: PostgresServer | undefined;
  try {
    const profileDir = join(dir, 'profile');
    const serviceDir = join(dir, 'service');
    postgres = ON_POSTGRES ? await startPostgres({ fsync: true }) : undefined;
    const database = await postgres?.createDatabase();
    const service = await startService(serviceDir, writePolicies(serviceDir, BENCH_POLICIES), SESSIONS, {
      grpcOnly: true,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
      ...(database ? { database } : {}),
    });
    // Transactions PostgreSQL committed (or rolled back) in the database: round trips that end in a commit.
    const transactions = async () =>
      postgres ? Number(await postgres.psql('postgres', `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '${new URL(database!).pathname.slice(1)}'`)) : NaN;
    await service.call(BENCH_KEYS[RPC].create.method, BENCH_KEYS[RPC].create.request);
    await loadStep([service.port], RPC, 64, 2); // warm-up
    const transactionsBefore = await transactions();
    const from = monotonicMicros();
    const step = await loadStep([service.port], RPC, 64, SECONDS, { service: { pids: () => [service.child.pid!] } });
    const to = monotonicMicros();
    // The statistics collector reports with a delay of up to a second.
    await new Promise((resolve) => setTimeout(resolve, postgres ? 1500 : 0));
    const transactionsPerRequest = ((await transactions()) - transactionsBefore) / step.calls;
    await service.stop(); // the profile is written as the process exits
    const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${profileDir}`);
    console.log(`# Service profile at peak on ${ON_POSTGRES ? 'PostgreSQL' : 'SQLite'}: ${RPC}, 64 in flight, ${SECONDS} s (the measured step only)\n`);
    if (postgres) console.log(`PostgreSQL transactions per request: ${transactionsPerRequest.toFixed(2)}\n`);
    console.log(`under the profiler: ${rate(step.perSecond)} signatures/s, service CPU ${micros(step.cpuPerCall.service)} µs per request (all threads)\n`);
    print(JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile, { from, to });
  } finally {
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
