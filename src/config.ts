import { readFileSync, statSync } from 'node:fs';
import { isPostgresUrl } from './store/open-store.js';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

/** The development token's PIN. Not a secret: never use the embedded token for real keys. */
export const DEV_PIN = 'dev-only-insecure-pin';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  database: string;
  /** Directory of policy files (and, later, the approver registry). */
  policyDir: string;
  /** Unset means the embedded development SoftHSM token under the data directory. */
  pkcs11Module?: string;
  tokenLabel: string;
  pin: string;
  sessions: number;
  maxMessageBytes: number;
  /** Plaintext on loopback, every caller being the identity "local". Otherwise mTLS. */
  insecure: boolean;
  /** mTLS files; unset (and not insecure) means the development PKI under the data directory. */
  tls?: { caFile: string; certFile: string; keyFile: string };
  auditCheckpointSeconds: number;
  /** host:port for the JWKS HTTP listener, or undefined when configured off. */
  jwks?: { host: string; port: number };
  jwtIssuer?: string;
  /** host:port for the Prometheus /metrics listener, or undefined when configured off. */
  metrics?: { host: string; port: number };
  /** How often JWT key versions are advanced (publish, activate, retire, scheduled rotation). */
  jwtScheduleSeconds: number;
  /** host:port for the Ethereum JSON-RPC listener, or undefined when configured off. */
  jsonRpc?: { host: string; port: number };
  /** Plaintext JSON-RPC (loopback only), every caller being this identity; otherwise HTTPS with client certificates. */
  jsonRpcPlaintextIdentity?: string;
  /** The Ethereum node JSON-RPC fills transactions from, broadcasts to and forwards reads to. */
  downstreamRpcUrl?: string;
  /** Caps on open parked requests (h2-quorum); defaults 100 per key, 20 per requester. */
  maxParkedPerKey?: number;
  maxParkedPerRequester?: number;
  /** The server ends WaitForSignature and WatchPending streams after this long; default 600. */
  streamMaxSeconds?: number;
}

const integer = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
  return n;
};

/** `data/` in the package (beside dist/), wherever the command is run from: the service and the CLI agree. */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../../data', import.meta.url));

/**
 * Reads flags and environment variables (flags win). PINs come only from SIGNER_HSM_PIN or
 * SIGNER_HSM_PIN_FILE, never from argv, where any local user could read them.
 */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const program = new Command('signer-server')
    .description('Remote signing service: keys stay in a PKCS#11 HSM, callers get signatures.')
    .addOption(new Option('--host <address>', 'address to listen on (loopback only until mTLS lands)').env('SIGNER_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'gRPC port (0 picks a free one)').env('SIGNER_PORT').default(50051).argParser(integer(0, 65535)))
    .addOption(new Option('--data-dir <dir>', 'where the database and the development token live').env('SIGNER_DATA_DIR').default(DEFAULT_DATA_DIR, 'data/ in the package'))
    .addOption(
      new Option('--database <file|url>', 'SQLite database file, or postgres://USER@HOST:PORT/DB for several replicas (default: <data-dir>/signer.db)').env(
        'SIGNER_DATABASE',
      ),
    )
    .addOption(new Option('--policy-dir <dir>', 'directory of policy files, reloaded on SIGHUP').env('SIGNER_POLICY_DIR').default('policies'))
    .addOption(
      new Option('--pkcs11-module <path>', 'PKCS#11 module; unset uses the embedded development SoftHSM token').env('SIGNER_PKCS11_MODULE'),
    )
    .addOption(new Option('--token-label <label>', 'label of the token holding the keys').env('SIGNER_TOKEN_LABEL').default('signer-dev'))
    .addOption(new Option('--sessions <n>', 'PKCS#11 sessions in the pool').env('SIGNER_HSM_SESSIONS').default(4).argParser(integer(1, 64)))
    .addOption(
      new Option('--max-message-bytes <n>', 'largest gRPC message accepted or sent')
        .env('SIGNER_MAX_MESSAGE_BYTES')
        .default(256 * 1024)
        .argParser(integer(1024, 4 * 1024 * 1024)),
    )
    .option('--insecure', 'plaintext gRPC, loopback only; every caller is the identity "local"')
    .addOption(new Option('--tls-ca <file>', 'CA certificates (PEM) whose client certificates are accepted').env('SIGNER_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', 'server certificate chain (PEM)').env('SIGNER_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'server private key (PEM)').env('SIGNER_TLS_KEY'))
    .addOption(
      new Option('--audit-checkpoint-seconds <n>', 'how often the audit chain head is signed by the HSM')
        .env('SIGNER_AUDIT_CHECKPOINT_SECONDS')
        .default(60)
        .argParser(integer(1, 86_400)),
    )
    .addOption(
      new Option('--jwks-address <host:port|off>', 'HTTP listener for /.well-known/jwks.json ("off" disables it)')
        .env('SIGNER_JWKS_ADDRESS')
        .default('127.0.0.1:50052'),
    )
    .addOption(
      new Option('--metrics-address <host:port|off>', 'HTTP listener for Prometheus /metrics ("off" disables it)')
        .env('SIGNER_METRICS_ADDRESS')
        .default('127.0.0.1:9464'),
    )
    .addOption(new Option('--jwt-issuer <url>', 'issuer for /.well-known/openid-configuration').env('SIGNER_JWT_ISSUER'))
    .addOption(
      new Option('--jwt-schedule-seconds <n>', 'how often JWT key versions are published, activated and retired')
        .env('SIGNER_JWT_SCHEDULE_SECONDS')
        .default(5)
        .argParser(integer(1, 3600)),
    )
    .addOption(
      new Option('--json-rpc-address <host:port|off>', 'Ethereum JSON-RPC listener ("off" disables it)')
        .env('SIGNER_JSON_RPC_ADDRESS')
        .default('127.0.0.1:8550'),
    )
    .addOption(
      new Option('--json-rpc-plaintext-identity <name>', 'serve JSON-RPC in plaintext on loopback, every caller being identity NAME')
        .env('SIGNER_JSON_RPC_PLAINTEXT_IDENTITY'),
    )
    .addOption(new Option('--downstream-rpc-url <url>', 'Ethereum node to fill, broadcast and forward reads to').env('SIGNER_DOWNSTREAM_RPC_URL'))
    .addOption(new Option('--max-parked-per-key <n>', 'open requests waiting for approval per key').env('SIGNER_MAX_PARKED_PER_KEY').default(100).argParser(integer(1, 100_000)))
    .addOption(
      new Option('--max-parked-per-requester <n>', 'open requests waiting for approval per requester').env('SIGNER_MAX_PARKED_PER_REQUESTER').default(20).argParser(integer(1, 100_000)),
    )
    .addOption(
      new Option('--stream-max-seconds <n>', 'WaitForSignature and WatchPending streams end after this long (clients call again)')
        .env('SIGNER_STREAM_MAX_SECONDS')
        .default(600)
        .argParser(integer(1, 86_400)),
    )
    .addHelpText(
      'after',
      `
PIN (never on the command line):
  SIGNER_HSM_PIN        the token's user PIN
  SIGNER_HSM_PIN_FILE   a file holding it, readable by its owner only (mode 0600 or 0400)
  With neither, the embedded development token uses the development PIN "${DEV_PIN}".`,
    )
    .exitOverride();
  refuseEmptyVariables(program, env);
  program.parse(argv, { from: 'user' });

  const options = program.opts<{
    host: string;
    port: number;
    dataDir: string;
    database?: string;
    policyDir: string;
    pkcs11Module?: string;
    tokenLabel: string;
    sessions: number;
    maxMessageBytes: number;
    insecure?: boolean;
    tlsCa?: string;
    tlsCert?: string;
    tlsKey?: string;
    auditCheckpointSeconds: number;
    jwksAddress: string;
    metricsAddress: string;
    jwtIssuer?: string;
    jwtScheduleSeconds: number;
    jsonRpcAddress: string;
    jsonRpcPlaintextIdentity?: string;
    downstreamRpcUrl?: string;
    maxParkedPerKey: number;
    maxParkedPerRequester: number;
    streamMaxSeconds: number;
  }>();
  const tlsGiven = [options.tlsCa, options.tlsCert, options.tlsKey].filter(Boolean).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new Error('--tls-ca, --tls-cert and --tls-key go together');
  if (tlsGiven && options.insecure) throw new Error('--insecure cannot be combined with --tls-* files');
  const dataDir = resolve(options.dataDir);
  return {
    host: options.host,
    port: options.port,
    dataDir,
    database: databaseLocation(options.database, dataDir),
    policyDir: resolve(options.policyDir),
    ...(options.pkcs11Module ? { pkcs11Module: options.pkcs11Module } : {}),
    tokenLabel: options.tokenLabel,
    pin: readPin(env, options.pkcs11Module === undefined),
    sessions: options.sessions,
    maxMessageBytes: options.maxMessageBytes,
    insecure: options.insecure ?? false,
    ...(tlsGiven ? { tls: { caFile: resolve(options.tlsCa!), certFile: resolve(options.tlsCert!), keyFile: resolve(options.tlsKey!) } } : {}),
    auditCheckpointSeconds: options.auditCheckpointSeconds,
    ...(options.jwksAddress === 'off' ? {} : { jwks: parseAddress(options.jwksAddress, '--jwks-address') }),
    ...(options.metricsAddress === 'off' ? {} : { metrics: parseAddress(options.metricsAddress, '--metrics-address') }),
    ...(options.jwtIssuer ? { jwtIssuer: options.jwtIssuer } : {}),
    jwtScheduleSeconds: options.jwtScheduleSeconds,
    ...(options.jsonRpcAddress === 'off' ? {} : { jsonRpc: parseAddress(options.jsonRpcAddress, '--json-rpc-address') }),
    ...(options.jsonRpcPlaintextIdentity ? { jsonRpcPlaintextIdentity: options.jsonRpcPlaintextIdentity } : {}),
    ...(options.downstreamRpcUrl ? { downstreamRpcUrl: httpUrl(options.downstreamRpcUrl, '--downstream-rpc-url') } : {}),
    maxParkedPerKey: options.maxParkedPerKey,
    maxParkedPerRequester: options.maxParkedPerRequester,
    streamMaxSeconds: options.streamMaxSeconds,
  };
}

/** Variables read outside commander. */
const OTHER_VARIABLES = ['SIGNER_HSM_PIN', 'SIGNER_HSM_PIN_FILE'];

/**
 * `SIGNER_TOKEN_LABEL=` (set but empty) is refused, naming the variable: commander would take the
 * empty string as the value (a token with no label), and a typo in a deployment file would pass.
 */
function refuseEmptyVariables(program: Command, env: NodeJS.ProcessEnv): void {
  // Commander reads its options' variables from process.env.
  for (const option of program.options) {
    if (option.envVar && process.env[option.envVar] === '') {
      throw new Error(`${option.envVar} is set but empty: give it a value or unset it (it sets ${option.long})`);
    }
  }
  const empty = OTHER_VARIABLES.find((name) => env[name] === '');
  if (empty) throw new Error(`${empty} is set but empty: give it a value or unset it`);
}

function httpUrl(text: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${flag} must be an http:// or https:// URL (got ${JSON.stringify(text)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${flag} must be an http:// or https:// URL (got ${JSON.stringify(text)})`);
  return url.toString();
}

/** The token's user PIN from SIGNER_HSM_PIN or SIGNER_HSM_PIN_FILE; the development PIN for the development token. */
export function readPin(env: NodeJS.ProcessEnv, devToken: boolean): string {
  if (env.SIGNER_HSM_PIN) return env.SIGNER_HSM_PIN;
  const file = env.SIGNER_HSM_PIN_FILE;
  if (file) {
    const stats = statSync(file);
    if ((stats.mode & 0o077) !== 0) {
      throw new Error(`SIGNER_HSM_PIN_FILE ${file} must be readable by its owner only (chmod 600), mode is ${(stats.mode & 0o777).toString(8)}`);
    }
    return readFileSync(file, 'utf8').trim();
  }
  if (devToken) return DEV_PIN;
  throw new Error('SIGNER_HSM_PIN or SIGNER_HSM_PIN_FILE is required with --pkcs11-module');
}

function parseAddress(text: string, flag: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) > 65535) throw new Error(`${flag} must be host:port or "off" (got ${JSON.stringify(text)})`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/**
 * A PostgreSQL URL as given (its password, if any, comes from PGPASSWORD, never a flag); anything
 * else is a SQLite file path, resolved.
 */
function databaseLocation(database: string | undefined, dataDir: string): string {
  if (database !== undefined && isPostgresUrl(database)) {
    if (new URL(database).password) throw new Error('--database: give the PostgreSQL password in PGPASSWORD, not in the URL (the URL is printed at start-up and shows in process lists)');
    return database;
  }
  return resolve(database ?? join(dataDir, 'signer.db'));
}
