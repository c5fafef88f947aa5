import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestFn } from 'ava';

const run = promisify(execFile);
const MISSING = 'PostgreSQL binaries not found (apt-get install postgresql); skipping';

/** The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin), if any. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'postgres')))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const newest = majors.at(-1);
  return newest === undefined ? undefined : join(root, newest, 'bin');
}

export const postgresAvailable = (): boolean => postgresBinDir() !== undefined;

export interface PostgresServer {
  /** The temp directory: the data directory and the Unix socket live in it. */
  readonly dir: string;
  /** The URL of database `db` over the Unix socket (no port to allocate, no password). */
  url(db?: string): string;
  /** A fresh, empty database; returns its URL. */
  createDatabase(): Promise<string>;
  /** Runs SQL with psql (not through the code under test) and returns its unaligned output. */
  psql(db: string, sql: string): Promise<string>;
  /** Stops the postmaster (fast shutdown: connections are cut) and keeps the data. */
  stopServer(): Promise<void>;
  /** Starts the postmaster again on the same data directory. */
  startServer(): Promise<void>;
  /** Freezes the server and every backend (SIGSTOP): connections stay open but nothing answers. */
  pause(): Promise<void>;
  /** Undoes `pause` (SIGCONT). */
  resume(): Promise<void>;
  /** Stops the server for good and deletes its directory. */
  stop(): Promise<void>;
}

/** Runs a PostgreSQL binary as the `postgres` user when we are root (they refuse root); setpriv execs in place. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [bin, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', bin, ...args]];
}

export interface PostgresOptions {
  /** Tests run with fsync off (they test logic, not disks); a benchmark turns it on, as production runs. */
  fsync?: boolean;
  /** More server settings, each `name=value` (a benchmark loads pg_stat_statements). */
  settings?: readonly string[];
}

/** A real PostgreSQL server in a temp directory, for one test file. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'signer-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  await run(...asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'signer', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']));
  let child: ChildProcess | undefined;
  let databases = 0;

  const startServer = async () => {
    const [command, args] = asPostgres(join(bin, 'postgres'), [
      '-D', data, '-c', 'listen_addresses=', '-k', dir, '-c', 'max_connections=200', ...(options.fsync ? [] : ['-c', 'fsync=off']),
      ...(options.settings ?? []).flatMap((setting) => ['-c', setting]),
    ]);
    const started = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    started.stderr!.on('data', (chunk) => (log = (log + chunk).slice(-4000)));
    child = started;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`postgres exited with ${started.exitCode}: ${log}`);
      const ready = await run(join(bin, 'pg_isready'), ['-q', '-h', dir]).then(() => true, () => false);
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`postgres did not become ready: ${log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const stopServer = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGINT');
    await exited;
  };
  // Whatever happens to the test process, the server does not outlive it (SIGQUIT: immediate shutdown).
  const onExit = () => {
    child?.kill('SIGCONT');
    child?.kill('SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const psql = async (db: string, sql: string) =>
    (await run(join(bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-U', 'signer', '-d', db, '-c', sql])).stdout.trim();

  /** The postmaster and its children (backends, background workers): the processes of this server. */
  const serverProcesses = async () => {
    const postmaster = child?.pid;
    if (postmaster === undefined) return [];
    const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(postmaster)]).catch(() => ({ stdout: '' }));
    return [postmaster, ...stdout.split(/\s+/).filter(Boolean).map(Number)];
  };
  const signalServer = async (signal: NodeJS.Signals) => {
    for (const pid of await serverProcesses()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  };

  await startServer();
  return {
    dir,
    url: (db = 'postgres') => `postgres://signer@localhost/${db}?host=${dir}`,
    async createDatabase() {
      const name = `signer_${process.pid}_${++databases}`;
      await psql('postgres', `CREATE DATABASE ${name}`);
      return `postgres://signer@localhost/${name}?host=${dir}`;
    },
    psql,
    stopServer,
    startServer,
    pause: () => signalServer('SIGSTOP'),
    resume: () => signalServer('SIGCONT'),
    async stop() {
      await stopServer();
      process.removeListener('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts one server for the calling test file and stops it after the file's tests. Returns undefined
 * (after declaring a skipped test that says why, or a failing one under CI=true) when PostgreSQL is
 * not installed: the caller then declares no tests.
 */
export function usePostgres(test: TestFn): (() => PostgresServer) | undefined {
  if (!postgresAvailable()) {
    if (process.env.CI === 'true') test('PostgreSQL is installed (CI runs every PostgreSQL test)', (t) => t.fail(MISSING.replace('; skipping', '')));
    else test.skip(MISSING, () => {});
    return undefined;
  }
  let server: PostgresServer | undefined;
  test.before(async () => {
    server = await startPostgres();
  });
  test.after.always(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the PostgreSQL server did not start (see the before hook)');
    return server;
  };
}
