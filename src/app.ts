import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AuditTrail } from './audit/audit-trail.js';
import { ensureDevPki, type DevPki } from './api/dev-pki.js';
import { startGrpcServer, type TlsFiles } from './api/server.js';
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
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Config } from './config.js';
import { faults } from './testing/faults.js';

export interface RunningSigner {
  port: number;
  modulePath: string;
  policy: PolicyGate;
  audit: AuditTrail;
  /** Set when the development PKI is in use. */
  devPki?: DevPki;
  /** For fault tests and tools in the same process. */
  store: SqliteStore;
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
  /** Stops accepting calls, finishes in-flight ones, signs the audit head, closes sessions, C_Finalize, closes the database. */
  stop(): Promise<void>;
}

/** The only place that wires concrete pieces together. */
export async function startSigner(config: Config, log: Logger, options: { clock?: () => number } = {}): Promise<RunningSigner> {
  const clock = options.clock ?? Date.now;
  // Before anything else: an invalid SIGNER_TEST_FAULTS refuses start-up, a valid one is shouted about.
  const faultsWarning = faults.announce((message, fields) => log.warn(message, fields));
  const modulePath =
    config.pkcs11Module ?? ensureDevToken(join(config.dataDir, 'softhsm'), config.tokenLabel, config.pin).modulePath;
  mkdirSync(dirname(config.databasePath), { recursive: true, mode: 0o700 });
  const devPki = !config.tls && !config.insecure ? await ensureDevPki(join(config.dataDir, 'pki')) : undefined;
  const tls: TlsFiles | undefined = config.tls ?? (devPki && { caFile: devPki.caCert, certFile: devPki.serverCert, keyFile: devPki.serverKey });

  const cleanups: Array<() => unknown> = [];
  const undo = () => cleanups.reverse().forEach((cleanup) => cleanup());
  try {
    const store = new SqliteStore(config.databasePath);
    cleanups.push(() => store.close());
    // Invalid policies or access rules refuse start-up, before the HSM is touched.
    const policy = new PolicyGate(config.policyDir, store, log, clock);
    const metrics = new SignerMetrics();
    const hsm = Hsm.open({ modulePath, tokenLabel: config.tokenLabel, pin: config.pin, sessions: config.sessions, observer: metrics.hsm });
    cleanups.push(() => hsm.close());
    const auditKeyPath = join(dirname(config.databasePath), 'audit-key.jwk');
    const audit = await AuditTrail.open(store, hsm, auditKeyPath, log);
    audit.startCheckpoints(config.auditCheckpointSeconds * 1000);
    cleanups.push(() => audit.stopCheckpoints());
    const keys = new KeyService(hsm, store, log);
    const signing = new SigningService(hsm, keys, policy, store, audit, log);
    const jwt = new JwtKeyService(hsm, keys, signing, policy, store, log, clock);
    const approvals = new ApprovalService(store, policy, signing, audit, log);
    jwt.startSchedule(config.jwtScheduleSeconds * 1000);
    cleanups.push(() => jwt.stopSchedule());
    const jwks = config.jwks && (await startJwksServer({ ...config.jwks, ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}) }, jwt));
    if (jwks) cleanups.push(() => jwks.close());
    metrics.watch({ store, policy, sessions: () => hsm.sessions });
    const metricsServer = config.metrics && (await startMetricsServer(config.metrics, metrics, log));
    if (metricsServer) cleanups.push(() => metricsServer.close());
    const server = await startGrpcServer(
      { host: config.host, port: config.port, maxMessageBytes: config.maxMessageBytes, ...(tls ? { tls } : {}) },
      { keys, signing, policy, audit, jwt, approvals, store, log, metrics },
      () => hsm.isHealthy(),
    );
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
      async stop() {
        jwt.stopSchedule();
        await Promise.all([server.shutdown(), jwks?.close(), metricsServer?.close()]);
        await audit.close().catch((error: unknown) => log.error('final audit checkpoint failed', { error: String(error) }));
        hsm.close();
        store.close();
      },
    };
  } catch (error) {
    undo();
    throw error;
  }
}
