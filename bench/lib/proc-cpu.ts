import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ): 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // exited
  }
}

// Indices into statFields: field 4 of proc(5) is index 1 here.
const PPID = 1;
const UTIME = 11;
const STIME = 12;
const CUTIME = 13;
const CSTIME = 14;

/**
 * CPU seconds a process has used, every thread included (user + system). With `reapedChildren`, also
 * the CPU of its children that exited and were waited for: a PostgreSQL backend that ends between
 * two readings is then still counted, in the postmaster's figure.
 */
export function cpuSeconds(pid: number, reapedChildren = false): number {
  const fields = statFields(pid);
  if (!fields) return 0;
  const indices = reapedChildren ? [UTIME, STIME, CUTIME, CSTIME] : [UTIME, STIME];
  return indices.reduce((sum, i) => sum + Number(fields[i]), 0) / TICKS_PER_SECOND;
}

/** The live children of `parent`, found through every /proc/<pid>/stat's ppid. */
export function childPids(parent: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields && Number(fields[PPID]) === parent) children.push(Number(name));
  }
  return children;
}

/** A group of processes whose CPU is read together: each pid on its own, or a server and all its children. */
export type CpuGroup = { pids: () => number[] } | { tree: number };

/** CPU seconds of the group now. A tree counts its root's reaped children too, so exits lose nothing. */
export function groupCpuSeconds(group: CpuGroup): number {
  if ('pids' in group) return group.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  return cpuSeconds(group.tree, true) + childPids(group.tree).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** Starts a reading; the returned function gives the CPU seconds the group used since. */
export function startCpuReading(group: CpuGroup): () => number {
  const before = groupCpuSeconds(group);
  return () => groupCpuSeconds(group) - before;
}
