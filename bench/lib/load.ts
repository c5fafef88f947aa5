import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { LoadJob, LoadResult } from '../load-client.js';

const LOAD_CLIENT = join(import.meta.dirname, '..', 'load-client.js');

/** Runs one load client in its own process and returns what it measured. `options` are node's and the environment's. */
export function runLoadClient(job: LoadJob, options: { execArgv?: string[]; env?: Record<string, string> } = {}): Promise<LoadResult> {
  const child = fork(LOAD_CLIENT, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(options.execArgv && { execArgv: options.execArgv }),
    env: { ...process.env, ...options.env },
  });
  child.send(job);
  return new Promise<LoadResult>((resolve, reject) => {
    child.once('message', (result) => resolve(result as LoadResult));
    child.once('exit', (code) => code !== 0 && reject(new Error(`load client exited with ${code}`)));
  });
}
