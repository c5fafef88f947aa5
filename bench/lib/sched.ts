import { readdirSync, readFileSync } from 'node:fs';

/** Nanoseconds a thread ran on a CPU and waited in the run queue for one, from /proc (schedstat). */
export interface ThreadTimes {
  runNs: number;
  waitNs: number;
}

/** Every thread of `pid` by thread id; a thread that exited is missing. */
export function threadTimes(pid: number): Map<number, ThreadTimes> {
  const times = new Map<number, ThreadTimes>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
      times.set(Number(tid), { runNs: Number(run), waitNs: Number(wait) });
    } catch {
      // exited between the listing and the read
    }
  }
  return times;
}

/** What the threads of `pid` used between two readings: its main thread, and the others summed. */
export function threadDelta(pid: number, before: Map<number, ThreadTimes>, after: Map<number, ThreadTimes>): { main: ThreadTimes; others: ThreadTimes & { threads: number } } {
  const others = { runNs: 0, waitNs: 0, threads: 0 };
  let main: ThreadTimes = { runNs: 0, waitNs: 0 };
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { runNs: 0, waitNs: 0 };
    const used = { runNs: end.runNs - start.runNs, waitNs: end.waitNs - start.waitNs };
    if (tid === pid) main = used;
    else if (used.runNs > 0) {
      others.runNs += used.runNs;
      others.waitNs += used.waitNs;
      others.threads++;
    }
  }
  return { main, others };
}

/** Microseconds in which some runnable task waited for a CPU, machine-wide (PSI); NaN without /proc/pressure. */
export function cpuPressureMicros(): number {
  try {
    const some = readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0]!;
    return Number(/total=(\d+)/.exec(some)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Busy and total CPU seconds of the whole machine so far, from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
  const idle = fields[3]! + fields[4]!; // idle + iowait
  return { busy: (total - idle) / 100, total: total / 100 };
}
