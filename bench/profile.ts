/**
 * Profiles the service's main thread at peak (issue 15): the service runs under `node --cpu-prof`,
 * takes SignEthereumTransaction at 64 in flight from two client processes, then stops and writes its
 * .cpuprofile; this prints the top self-time functions and areas of the measured step. Not part of
 * `npm run bench` (profiling slows the service down); BENCHMARKS.md records what it printed.
 *
 *   node dist/bench/profile.js                   # after npm run build
 *   node dist/bench/profile.js some.cpuprofile   # summarize an existing profile only
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePolicies } from '../test/helpers/signer.js';
import { monotonicMicros, summarizeProfile, type CpuProfile, type SelfTime } from './lib/cpu-profile.js';
import { BENCH_KEYS, BENCH_POLICIES } from './lib/requests.js';
import { startService } from './lib/service.js';
import { rate, table } from './lib/stats.js';
import { loadStep, micros } from './lib/step.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4);
const RPC = 'SignEthereumTransaction';

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
  try {
    const profileDir = join(dir, 'profile');
    const serviceDir = join(dir, 'service');
    const service = await startService(serviceDir, writePolicies(serviceDir, BENCH_POLICIES), SESSIONS, {
      grpcOnly: true,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    });
    await service.call(BENCH_KEYS[RPC].create.method, BENCH_KEYS[RPC].create.request);
    await loadStep([service.port], RPC, 64, 2); // warm-up
    const from = monotonicMicros();
    const step = await loadStep([service.port], RPC, 64, SECONDS, { service: { pids: () => [service.child.pid!] } });
    const to = monotonicMicros();
    await service.stop(); // the profile is written as the process exits
    const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${profileDir}`);
    console.log(`# Service profile at peak: ${RPC}, 64 in flight, ${SECONDS} s (the measured step only)\n`);
    console.log(`under the profiler: ${rate(step.perSecond)} signatures/s, service CPU ${micros(step.cpuPerCall.service)} µs per request (all threads)\n`);
    print(JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile, { from, to });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
