/** Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by area of the code. */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  /** Microseconds on the monotonic clock, the one process.hrtime reads (CLOCK_MONOTONIC on Linux). */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Of the busy time: everything but (idle). */
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: SelfTime[];
  areas: SelfTime[];
}

/** A location short enough for a table: the path below node_modules or the package root. */
function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const below = /.*\/node_modules\/(.*)$/.exec(path)?.[1] ?? /.*\/dist\/((src|bench)\/.*)$/.exec(path)?.[1] ?? path;
  return `${below}:${line + 1}`;
}

/** What part of the program a frame belongs to: a package, a folder of ours, Node itself, or V8. */
function area(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native code called from JS)';
  const module = /\/node_modules\/((@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (module) return module;
  const ours = /\/dist\/((src|bench)\/[^/]+)/.exec(url)?.[1];
  if (ours) return ours.replace(/\.js$/, '');
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/')[1] : url.slice(5)}`;
  return url;
}

/** Now on the profile's clock, to select a window of it. */
export const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Each sample's weight is the time until the next sample (the last one's is 0). With `window`, only
 * the samples taken inside it (monotonic microseconds) count: the load, not start-up.
 */
export function summarizeProfile(profile: CpuProfile, window?: { from: number; to: number }, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let idleMs = 0;
  let busyMs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.from || at > window.to)) return;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idleMs += ms;
      return;
    }
    busyMs += ms;
    const name = `${functionName || '(anonymous)'} ${where(url, lineNumber)}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + ms);
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + ms);
  });
  const ranked = (totals: Map<string, number>) =>
    [...totals]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: ms / busyMs }));
  return { busyMs, idleMs, functions: ranked(functions), areas: ranked(areas) };
}
