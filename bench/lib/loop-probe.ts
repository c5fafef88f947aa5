/**
 * Loaded into a process by bench/tail.ts (`node --import`): records, in wall-clock time, every garbage
 * collection and every event-loop stall, and writes them to $LOOP_PROBE_DIR/<pid>.json when the
 * process exits. Nothing is written without LOOP_PROBE_DIR.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';

/** [start in ms since the epoch, duration in ms, kind] (kind: node's NODE_PERFORMANCE_GC_* flag). */
export type GcEvent = [number, number, number];
/** [when the timer was due in ms since the epoch, how late it ran in ms] */
export type Stall = [number, number];
export interface ProbeRecord {
  gcs: GcEvent[];
  stalls: Stall[];
}

const TICK_MS = 10;
/** Lateness below this is the timer's own granularity. */
const STALL_MS = 2;

const dir = process.env.LOOP_PROBE_DIR;
if (dir) {
  const record: ProbeRecord = { gcs: [], stalls: [] };
  const origin = performance.timeOrigin;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) record.gcs.push([origin + entry.startTime, entry.duration, (entry as unknown as { detail: { kind: number } }).detail.kind]);
  }).observe({ entryTypes: ['gc'] });
  let due = performance.now() + TICK_MS;
  setInterval(() => {
    const now = performance.now();
    if (now - due >= STALL_MS) record.stalls.push([origin + due, now - due]);
    due = now + TICK_MS;
  }, TICK_MS).unref();
  process.on('exit', () => writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(record)));
}
