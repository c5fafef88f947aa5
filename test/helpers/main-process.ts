import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The service's entry point, as `npm start` runs it. */
export const MAIN = join(import.meta.dirname, '..', '..', 'src', 'main.js');

export interface Started {
  child: ChildProcess;
  port: number;
  stdout: string;
  /** Everything the process wrote to stderr so far (its JSON log lines). */
  stderr(): string;
}

/** Runs the service as `npm start` does and waits for its "listening" line. */
export function startMain(dataDir: string, policyDir: string, env: NodeJS.ProcessEnv = {}, args = ['--insecure']): Promise<Started> {
  // Never a fixed port in tests: listeners on 0 pick free ones.
  args = [...args, '--jwks-address', '127.0.0.1:0', '--metrics-address', '127.0.0.1:0', '--json-rpc-address', '127.0.0.1:0'];
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--data-dir', dataDir, '--policy-dir', policyDir, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match && stdout.includes('stop with SIGTERM')) resolve({ child, port: Number(match[1]), stdout, stderr: () => stderr });
    });
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
  });
}

export function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

