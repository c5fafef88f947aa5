import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The built `signer` CLI, as the package's bin runs it. */
export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const run = promisify(execFile);

/** Runs `signer ...args` as a child process; never throws for a non-zero exit. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
  try {
    const running = run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      timeout: 60_000,
      // `audit export` of a busy test writes megabytes.
      maxBuffer: 256 * 2 ** 20,
    });
    // Standard input, as a pipe would give it; without `input` it stays open (and empty).
    if (options.input !== undefined) running.child.stdin!.end(options.input);
    const { stdout, stderr } = await running;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number | string; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
