import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startGrpcServer } from './api/server.js';
import type { Logger } from './domain/logger.js';
import { ensureDevToken } from './keystore/dev-token.js';
import { Hsm } from './keystore/hsm.js';
import { KeyService } from './service/key-service.js';
import { PolicyGate } from './service/policy-gate.js';
import { SigningService } from './service/signing-service.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Config } from './config.js';

export interface RunningSigner {
  port: number;
  modulePath: string;
  policy: PolicyGate;
  /** Stops accepting calls, finishes in-flight ones, closes sessions, C_Finalize, closes the database. */
  stop(): Promise<void>;
}

/** The only place that wires concrete pieces together. */
export async function startSigner(config: Config, log: Logger): Promise<RunningSigner> {
  const modulePath =
    config.pkcs11Module ?? ensureDevToken(join(config.dataDir, 'softhsm'), config.tokenLabel, config.pin).modulePath;
  mkdirSync(dirname(config.databasePath), { recursive: true, mode: 0o700 });

  const store = new SqliteStore(config.databasePath);
  let policy: PolicyGate;
  try {
    // Invalid policies refuse start-up, before the HSM is touched.
    policy = new PolicyGate(config.policyDir, store, log);
  } catch (error) {
    store.close();
    throw error;
  }
  let hsm: Hsm;
  try {
    hsm = Hsm.open({ modulePath, tokenLabel: config.tokenLabel, pin: config.pin, sessions: config.sessions });
  } catch (error) {
    store.close();
    throw error;
  }
  const keys = new KeyService(hsm, store, log);
  const signing = new SigningService(hsm, keys, policy, log);
  let server;
  try {
    server = await startGrpcServer(
      { host: config.host, port: config.port, maxMessageBytes: config.maxMessageBytes },
      { keys, signing, policy, log },
      () => hsm.isHealthy(),
    );
  } catch (error) {
    hsm.close();
    store.close();
    throw error;
  }
  return {
    port: server.port,
    modulePath,
    policy,
    async stop() {
      await server.shutdown();
      hsm.close();
      store.close();
    },
  };
}
