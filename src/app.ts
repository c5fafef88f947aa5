import { dirname, join } from 'node:path';
import { AuditTrail } from './audit/audit-trail.js';
import { ensureDevPki, type DevPki } from './api/dev-pki.js';
import { startGrpcServer, type TlsFiles } from './api/grpc/server.js';
import type { Logger } from './domain/logger.js';
import { ensureDevToken } from './keystore/dev-token.js';
import { Hsm } from './keystore/hsm.js';
import { KeyService } from './service/key-service.js';
import { JwtKeyService } from './service/jwt-keys.js';
import { ApprovalService } from './approvals/approval-service.js';
import { startJwksServer, type RunningJwksServer } from './api/jwks-http.js';
import { startMetricsServer, type RunningMetricsServer } from './api/metrics-http.js';
import { SignerMetrics } from './metrics/metrics.js';
import { PolicyGate } from './service/policy-gate.js';
import { SigningService } from './service/signing-service.js';
import { isPostgresUrl, openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { ensurePrivateDirectory } from './store/private-paths.js';
import type { Config } from './config.js';
import { faults } from './testing/faults.js';
import { startJsonRpcServer, type RunningJsonRpcServer } from './api/json-rpc/server.js';
import { INSECURE_IDENTITY } from './api/identity.js';
import { EthereumAccounts } from './service/ethereum-accounts.js';
import { HttpEthereumNode } from './service/ethereum-node.js';
import { EthereumTransactions } from './service/ethereum-transactions.js';
import { broadcastApprovedTransactions } from './service/approved-broadcast.js';
import { DEFAULT_PARKING_LIMITS } from './approvals/parking-limits.js';
import { DEFAULT_STREAM_LIMITS } from './api/grpc/change-feed.js';
import { DEFAULT_HEALTH_WATCH_LIMITS } from './api/grpc/health-watch.js';

/** How often parked requests whose time is up are expired (one UPDATE each time). */
const PARKED_SWEEP_MS = 1000;

export interface RunningSigner {
  port: number;
  modulePath: string;
  policy: PolicyGate;
  audit: AuditTrail;
  /** Set when the development PKI is in use. */
  devPki?: DevPki;
  /** For fault tests and tools in the same process. */
  store: Store;
  /** Where `audit verify` finds the pinned checkpoint key. */
  auditKeyPath: string;
  jwt: JwtKeyService;
  approvals: ApprovalService;
  /** Unset when the JWKS listener is configured off. */
  jwks?: RunningJwksServer;
  /** Set when SIGNER_TEST_FAULTS injects faults (tests only): the warning, for the banner. */
  faultsWarning?: string;
  /** Unset when the Prometheus listener is configured off. */
  metrics?: RunningMetricsServer;
  /** Unset when the Ethereum JSON-RPC listener is configured off. */
  jsonRpc?: RunningJsonRpcServer;
  /** Stops accepting calls, finishes in-flight ones, signs the audit head, closes sessions, C_Finalize, closes the database. */
  stop(): Promise<void>;
}

/**
 * A listener that cannot bind says which one it is and which flag moves it: three listeners share
 * one process, and "address already in use" alone does not say whose address.
 */
async function listener<T>(name: string, flag: string, address: { host: string; port: number }, starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    // Only binding failures: anything else (TLS files, say) keeps its own message.
    if (!/EADDRINUSE|EADDRNOTAVAIL|EACCES|ENOTFOUND|EAI_AGAIN|No address added/.test(`${(error as NodeJS.ErrnoException).code} ${message}`)) throw error;
    const why = /EADDRINUSE/.test(message) ? 'the address is already in use' : message;
    throw new Error(`the ${name} listener cannot bind ${address.host}:${address.port}: ${why}; move it with ${flag}`);
  }
}

/** The only place that wires concrete pieces together. */
export async function startSigner(config: Config, log: Logger, options: { clock?: () => number } = {}): Promise<RunningSigner> {
  // Before anything else: an invalid SIGNER_TEST_FAULTS refuses start-up, a valid one is shouted about.
  const faultsWarning = faults.announce((message, fields) => log.warn(message, fields));
  // Before anything is written there: refused if group or others may read or write them. Missing ones
  // are created 0700 (the development token and PKI create theirs under the data directory 0700 too).
  ensurePrivateDirectory(config.dataDir, 'data directory', { create: false });
  const postgres = isPostgresUrl(config.database);
  if (!postgres) ensurePrivateDirectory(dirname(config.database), 'database directory', { create: true });
  const modulePath =
    config.pkcs11Module ?? ensureDevToken(join(config.dataDir, 'softhsm'), config.tokenLabel, config.pin).modulePath;
  const devPki = !config.tls && !config.insecure ? await ensureDevPki(join(config.dataDir, 'pki')) : undefined;
  const tls: TlsFiles | undefined = config.tls ?? (devPki && { caFile: devPki.caCert, certFile: devPki.serverCert, keyFile: devPki.serverKey });

  const cleanups: Array<() => unknown> = [];
  const undo = () => cleanups.reverse().forEach((cleanup) => cleanup());
  try {
    const metrics = new SignerMetrics();
    const store = await openStore(config.database, { observer: metrics.commits });
    cleanups.push(() => store.close());
    // Decisions use the database's clock, so that replicas on machines whose clocks drift agree.
    const clock = options.clock ?? (() => store.now());
    // Invalid policies or access rules refuse start-up, before the HSM is touched.
    const policy = new PolicyGate(config.policyDir, store, log, clock);
    const hsm = Hsm.open({ modulePath, tokenLabel: config.tokenLabel, pin: config.pin, sessions: config.sessions, observer: metrics.hsm });
    cleanups.push(() => hsm.close());
    // Beside a SQLite file; with PostgreSQL, in the data directory every replica shares.
    const auditKeyPath = join(postgres ? config.dataDir : dirname(config.database), 'audit-key.jwk');
    const audit = await AuditTrail.open(store, hsm, auditKeyPath, log, metrics.audit);
    audit.startCheckpoints(config.auditCheckpointSeconds * 1000);
    cleanups.push(() => audit.stopCheckpoints());
    const keys = new KeyService(hsm, store, log);
    const parking = { ...DEFAULT_PARKING_LIMITS, ...(config.maxParkedPerKey ? { perKey: config.maxParkedPerKey } : {}), ...(config.maxParkedPerRequester ? { perRequester: config.maxParkedPerRequester } : {}) };
    const signing = new SigningService(hsm, keys, policy, store, audit, log, parking);
    const jwt = new JwtKeyService(hsm, keys, signing, policy, store, log, clock);
    const approvals = new ApprovalService(store, policy, signing, audit, log);
    cleanups.push(() => approvals.stop());
    jwt.startSchedule(config.jwtScheduleSeconds * 1000);
    cleanups.push(() => jwt.stopSchedule());
    const jwks =
      config.jwks && (await listener('JWKS', '--jwks-address', config.jwks, startJwksServer({ ...config.jwks, ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}) }, jwt)));
    if (jwks) cleanups.push(() => jwks.close());
    metrics.watch({ store, policy, sessions: () => hsm.sessions });
    const metricsServer = config.metrics && (await listener('metrics', '--metrics-address', config.metrics, startMetricsServer(config.metrics, metrics, log)));
    if (metricsServer) cleanups.push(() => metricsServer.close());
    // Before gRPC: if it refuses its address, nothing is left listening.
    const jsonRpc =
      config.jsonRpc &&
      (await listener('JSON-RPC', '--json-rpc-address', config.jsonRpc, startJsonRpc(config, config.jsonRpc, tls, { keys, signing, policy, store, audit, approvals, log, metrics }, cleanups)));
    const server = await listener(
      'gRPC',
      '--port (or --host)',
      config,
      startGrpcServer(
        {
          host: config.host,
          port: config.port,
          maxMessageBytes: config.maxMessageBytes,
          ...(tls ? { tls } : {}),
          ...(config.streamMaxSeconds
            ? {
                streams: { ...DEFAULT_STREAM_LIMITS, maxLifetimeMs: config.streamMaxSeconds * 1000 },
                healthWatch: { ...DEFAULT_HEALTH_WATCH_LIMITS, maxLifetimeMs: config.streamMaxSeconds * 1000 },
              }
            : {}),
        },
        { keys, signing, policy, audit, jwt, approvals, store, log, metrics },
        () => hsm.isHealthy(),
      ),
    );
    // Parked requests a crash left approved are signed (or failed) once the service can sign.
    await approvals.start(PARKED_SWEEP_MS).catch((error: unknown) => log.error('approved requests left by a restart could not be finished', { error: String(error) }));
    return {
      port: server.port,
      modulePath,
      policy,
      audit,
      ...(devPki ? { devPki } : {}),
      store,
      auditKeyPath,
      jwt,
      approvals,
      ...(jwks ? { jwks } : {}),
      ...(faultsWarning ? { faultsWarning } : {}),
      ...(metricsServer ? { metrics: metricsServer } : {}),
      ...(jsonRpc ? { jsonRpc } : {}),
      async stop() {
        jwt.stopSchedule();
        approvals.stop();
        await Promise.all([server.shutdown(), jwks?.close(), metricsServer?.close(), jsonRpc?.close()]);
        await audit.close().catch((error: unknown) => log.error('final audit checkpoint failed', { error: String(error) }));
        hsm.close();
        await store.close();
      },
    };
  } catch (error) {
    undo();
    throw error;
  }
}

/**
 * The Ethereum JSON-RPC listener: HTTPS with the gRPC listener's certificates and CAs, or plaintext on
 * loopback as one identity (--json-rpc-plaintext-identity, or "local" under --insecure).
 */
async function startJsonRpc(
  config: Config,
  address: { host: string; port: number },
  tls: TlsFiles | undefined,
  parts: { keys: KeyService; signing: SigningService; policy: PolicyGate; store: Store; audit: AuditTrail; approvals: ApprovalService; log: Logger; metrics: SignerMetrics },
  cleanups: Array<() => unknown>,
): Promise<RunningJsonRpcServer> {
  const node = config.downstreamRpcUrl ? new HttpEthereumNode(config.downstreamRpcUrl) : undefined;
  const transactions = new EthereumTransactions(parts.signing, parts.store, node, parts.policy);
  if (node) cleanups.push(broadcastApprovedTransactions(parts.approvals, transactions, parts.log));
  const plaintextIdentity = config.jsonRpcPlaintextIdentity ?? (config.insecure ? INSECURE_IDENTITY : undefined);
  const server = await startJsonRpcServer(
    {
      ...address,
      maxBodyBytes: config.maxMessageBytes,
      ...(plaintextIdentity === undefined ? { tls: tls! } : { plaintextIdentity }),
    },
    { ...parts, accounts: new EthereumAccounts(parts.keys, parts.policy, parts.store), transactions, ...(node ? { node } : {}) },
  );
  cleanups.push(() => server.close());
  return server;
}
