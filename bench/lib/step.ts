import type { LoadJob } from '../load-client.js';
import { runLoadClient } from './load.js';
import { startCpuReading, type CpuGroup } from './proc-cpu.js';
import type { BenchRpc } from './requests.js';
import { summarize, type LatencySummary } from './stats.js';

/** Load client processes per step: the client's CPU stays off the server's event loop and off one core. */
const CLIENT_PROCESSES = 2;

export interface StepResult {
  inFlight: number;
  perSecond: number;
  latency: LatencySummary;
  errors: Record<string, number>;
  /** Calls the servers answered while CPU was read (successes and failures). */
  calls: number;
  /** CPU seconds per call of each group of processes, over the whole step. */
  cpuPerCall: Record<string, number>;
}

let nextSequence = 1;

/**
 * One closed-loop step: `inFlight` calls at a time from two client processes, spread over `ports`
 * call by call, for `seconds`. CPU is read from /proc for each group before the clients start and
 * after they finish. No warm-up calls inside the step (they would count in the CPU but not in the
 * figures): warm up with a step of its own first.
 */
export async function loadStep(ports: number[], rpc: BenchRpc, inFlight: number, seconds: number, cpu: Record<string, CpuGroup> = {}): Promise<StepResult> {
  const readings = Object.entries(cpu).map(([name, group]) => [name, startCpuReading(group)] as const);
  const results = await Promise.all(
    Array.from({ length: CLIENT_PROCESSES }, () => {
      const job: LoadJob = { port: ports[0]!, ports, rpc, inFlight: inFlight / CLIENT_PROCESSES, seconds, warmupCalls: 0, sequenceStart: nextSequence };
      nextSequence += 10_000_000;
      return runLoadClient(job);
    }),
  );
  const used = readings.map(([name, read]) => [name, read()] as const);
  const completed = results.reduce((sum, r) => sum + r.completed, 0);
  const errors: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  const calls = completed + Object.values(errors).reduce((sum, n) => sum + n, 0);
  return {
    inFlight,
    perSecond: completed / Math.max(...results.map((r) => r.seconds)),
    latency: summarize(results.flatMap((r) => r.latenciesMs)),
    errors,
    calls,
    cpuPerCall: Object.fromEntries(used.map(([name, seconds]) => [name, seconds / calls])),
  };
}

/** CPU per call as microseconds, for tables. */
export const micros = (seconds: number | undefined) => (seconds !== undefined && Number.isFinite(seconds) ? Math.round(seconds * 1e6).toLocaleString('en-US') : '-');

export const errorText = (errors: Record<string, number>) => Object.entries(errors).map(([code, n]) => `${code} ${n}`).join(', ') || '0';
export const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
