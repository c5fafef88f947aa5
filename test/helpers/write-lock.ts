import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

const HOLD_WRITE_LOCK = join(import.meta.dirname, 'hold-write-lock.js');

/**
 * Another process holding BEGIN IMMEDIATE on the SQLite database until `release()` (idempotent), or
 * for `holdMs` by its own clock when given; `released` settles when it has let go.
 */
export async function holdWriteLock(database: string, holdMs?: number): Promise<{ release(): Promise<void>; released: Promise<unknown> }> {
  const args = holdMs === undefined ? [HOLD_WRITE_LOCK, database] : [HOLD_WRITE_LOCK, database, String(holdMs)];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  if (chunk.toString() !== 'locked\n') throw new Error(`lock holder said ${chunk}`);
  const exited = once(child, 'exit');
  return {
    released: exited,
    release: async () => {
      if (child.exitCode === null && child.signalCode === null) child.stdin.end('release\n');
      await exited;
    },
  };
}

/** Runs `work` while a 10 ms timer measures the longest time this process's event loop went without running it. */
export async function longestStall<T>(work: () => Promise<T>): Promise<{ value: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 10);
  try {
    return { value: await work(), stallMs };
  } finally {
    clearInterval(timer);
  }
}
