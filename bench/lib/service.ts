import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSignerPackage } from '../../src/api/proto.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'main.js');
const BARE_SERVER = join(import.meta.dirname, '..', 'bare-server.js');

export interface BenchService {
  child: ChildProcess;
  port: number;
  /** The Prometheus endpoint, when the service printed one. */
  metricsUrl?: string;
  /** Milliseconds from spawn to the "listening" banner. */
  startupMs: number;
  /** How many times `options.watchStderr` appeared in the service's log so far. */
  stderrMatches(): number;
  call<T = unknown>(method: string, request: object): Promise<T>;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  watchStderr?: RegExp;
  /** `--database`: a PostgreSQL URL, or a SQLite file (default: <data-dir>/signer.db). */
  database?: string;
  /**
   * Only the gRPC listener: JWKS, metrics and JSON-RPC off, as every replica but one runs when several
   * share a machine. By default JWKS and metrics listen on ephemeral ports and JSON-RPC on its default.
   */
  grpcOnly?: boolean;
  /** Options for node itself, e.g. `--cpu-prof` (which NODE_OPTIONS does not accept). */
  nodeArgs?: string[];
  /** Added to this process's environment for the service, e.g. UV_THREADPOOL_SIZE. */
  env?: Record<string, string>;
}

/** The real service, as `npm start` runs it (plaintext on loopback), in its own process. */
export function startService(dataDir: string, policyDir: string, sessions: number, options: ServiceOptions = {}): Promise<BenchService> {
  const args = [MAIN, '--insecure', '--port', '0', '--data-dir', dataDir, '--policy-dir', policyDir, '--sessions', String(sessions)];
  if (options.database) args.push('--database', options.database);
  const listeners = options.grpcOnly
    ? ['--jwks-address', 'off', '--metrics-address', 'off', '--json-rpc-address', 'off']
    : ['--jwks-address', '127.0.0.1:0', '--metrics-address', '127.0.0.1:0'];
  return startServer([...(options.nodeArgs ?? []), ...args, ...listeners], options);
}

/** The bare gRPC server of bench/bare-server.ts (same proto and HSM layer, nothing else), in its own process. */
export function startBareServer(dir: string, sessions: number): Promise<BenchService> {
  return startServer([BARE_SERVER, dir, String(sessions)], {});
}

/** Spawns a server that prints "listening on 127.0.0.1:PORT" and then "stop with SIGTERM", and connects a client. */
async function startServer(args: string[], options: Pick<ServiceOptions, 'watchStderr' | 'env'>): Promise<BenchService> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let stdout = '';
  let stderr = '';
  let matches = 0;
  const watch = options.watchStderr && new RegExp(options.watchStderr.source, 'g');
  child.stderr!.on('data', (chunk: Buffer) => {
    if (watch) matches += chunk.toString().match(watch)?.length ?? 0;
  });
  const banner = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('stop with SIGTERM')) resolve(stdout);
    });
    child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('exit', (code) => reject(new Error(`service exited with ${code}: ${stderr}`)));
  });
  const startupMs = performance.now() - started;
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(banner)![1]);
  const metricsUrl = /(http:\/\/\S+\/metrics)/.exec(banner)?.[1];
  const { proto } = loadSignerPackage();
  const client = new proto.signer.v1.Signer(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = <T>(method: string, request: object) =>
    new Promise<T>((resolve, reject) =>
      (client as unknown as Record<string, (r: object, cb: (e: Error | null, v: T) => void) => void>)[method]!.call(client, request, (error, value) =>
        error ? reject(error) : resolve(value),
      ),
    );
  return {
    child,
    port,
    ...(metricsUrl ? { metricsUrl } : {}),
    startupMs,
    stderrMatches: () => matches,
    call,
    stop: () => {
      client.close();
      if (child.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

/** Resident set size of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

/** One gauge from the service's Prometheus endpoint (prom-client resets the event-loop histogram on each scrape). */
export async function scrape(metricsUrl: string | undefined, name: string): Promise<number> {
  if (!metricsUrl) return NaN;
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}
