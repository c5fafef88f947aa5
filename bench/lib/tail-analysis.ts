/** The pieces bench/tail.ts reports: a latency histogram, Prometheus histogram deltas, and coincidences. */
import { valueOf, type Sample } from '../../test/helpers/prometheus.js';
import type { GcEvent, Stall } from './loop-probe.js';

/** Log-spaced upper bounds in milliseconds; the last bucket is everything above the last bound. */
export const LATENCY_BOUNDS_MS = [1, 2, 4, 8, 16, 32, 64];

/** How many latencies fall in each bucket of LATENCY_BOUNDS_MS (one more bucket for above the last). */
export function latencyBuckets(latenciesMs: readonly number[]): number[] {
  const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  for (const latency of latenciesMs) {
    const i = LATENCY_BOUNDS_MS.findIndex((bound) => latency < bound);
    counts[i === -1 ? LATENCY_BOUNDS_MS.length : i]!++;
  }
  return counts;
}

export function bucketLabel(i: number): string {
  if (i === 0) return `< ${LATENCY_BOUNDS_MS[0]} ms`;
  if (i === LATENCY_BOUNDS_MS.length) return `>= ${LATENCY_BOUNDS_MS.at(-1)} ms`;
  return `${LATENCY_BOUNDS_MS[i - 1]}-${LATENCY_BOUNDS_MS[i]} ms`;
}

/** What one Prometheus histogram series gained between two scrapes. */
export interface HistogramDelta {
  count: number;
  sum: number;
  /** [upper bound in seconds, observations at or below it] (cumulative, as Prometheus keeps them). */
  buckets: Array<[number, number]>;
}

export function histogramDelta(before: Sample[], after: Sample[], name: string, labels: Record<string, string> = {}): HistogramDelta {
  const gained = (metric: string, extra: Record<string, string> = {}) =>
    (valueOf(after, metric, { ...labels, ...extra }) ?? 0) - (valueOf(before, metric, { ...labels, ...extra }) ?? 0);
  const bounds = after
    .filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => s.labels.le!)
    .filter((le) => le !== '+Inf');
  return {
    count: gained(`${name}_count`),
    sum: gained(`${name}_sum`),
    buckets: bounds.map((le) => [Number(le), gained(`${name}_bucket`, { le })]),
  };
}

/** Observations above `seconds` (which must be one of the histogram's bounds). */
export function above(delta: HistogramDelta, seconds: number): number {
  const bucket = delta.buckets.find(([le]) => Math.abs(le - seconds) < 1e-12);
  return bucket ? delta.count - bucket[1] : NaN;
}

/** An interval in milliseconds since the epoch. */
export type Span = [start: number, end: number];

export const gcSpans = (gcs: readonly GcEvent[]): Span[] => gcs.map(([start, duration]) => [start, start + duration]);
export const stallSpans = (stalls: readonly Stall[], atLeastMs: number): Span[] =>
  stalls.filter(([, late]) => late >= atLeastMs).map(([due, late]) => [due, due + late]);

/** How many of `calls` overlap at least one of `spans` (both sorted by start or not: spans are sorted here). */
export function overlapping(calls: readonly Span[], spans: readonly Span[]): number {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  const starts = sorted.map(([start]) => start);
  // The longest span bounds how far back a span that still covers a call's start can begin.
  const longest = sorted.reduce((max, [start, end]) => Math.max(max, end - start), 0);
  let hits = 0;
  for (const [callStart, callEnd] of calls) {
    let i = lowerBound(starts, callStart - longest);
    let hit = false;
    for (; i < sorted.length && sorted[i]![0] <= callEnd; i++) {
      if (sorted[i]![1] >= callStart) {
        hit = true;
        break;
      }
    }
    if (hit) hits++;
  }
  return hits;
}

/** Milliseconds of `spans` (merged, so overlaps count once) inside [from, to]. */
export function coveredMs(spans: readonly Span[], from: number, to: number): number {
  const sorted = spans.map(([s, e]): Span => [Math.max(s, from), Math.min(e, to)]).filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [s, e] of sorted) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** node's PerformanceEntry gc kinds (perf_hooks constants NODE_PERFORMANCE_GC_*). */
export const GC_KINDS: Readonly<Record<number, string>> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };

export const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-');
