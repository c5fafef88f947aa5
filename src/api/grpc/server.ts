import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import { readCaBundle } from '../pem-bundle.js';
import { identityFromCertificate, INSECURE_IDENTITY } from '../identity.js';
import type { AccessRules } from '../../policy/access.js';
import type { Logger } from '../../domain/logger.js';
import { LOADER_OPTIONS, loadSignerPackage, SIGNER_SERVICE_NAME } from '../proto.js';
import { signerHandlers, type Services } from './handlers.js';
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from './change-feed.js';
import { boundedHealthWatch, DEFAULT_HEALTH_WATCH_LIMITS, type HealthWatchLimits } from './health-watch.js';
import { withStrictRequests } from './strict-request.js';

export interface TlsFiles {
  /** PEM file of the CAs whose client certificates are accepted (one or more certificates). */
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface GrpcServerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest request or response, in bytes. */
  maxMessageBytes: number;
  /** How often to re-check the HSM for the health service. */
  healthIntervalMs?: number;
  /** mTLS. Without it (--insecure) the service listens in plaintext, on loopback only. */
  tls?: TlsFiles;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls in flight on one connection. Default 100. */
  maxConcurrentStreams?: number;
  /** Bounds on WaitForSignature and WatchPending. */
  streams?: StreamLimits;
  /** Bounds on the unauthenticated grpc.health.v1 Watch. */
  healthWatch?: HealthWatchLimits;
}

const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

export interface RunningGrpcServer {
  /** The port actually bound. */
  port: number;
  /** Stops accepting calls, lets in-flight calls finish (up to `graceMs`), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

/** grpc.health.v1 from the package that serves it, so that reflection lists it too (grpcurl, Postman). */
function healthDefinition(): protoLoader.PackageDefinition {
  const protoDir = join(dirname(createRequire(import.meta.url).resolve('grpc-health-check')), '..', '..', 'proto');
  return protoLoader.loadSync('health/v1/health.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir] });
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Starts the Signer service with grpc.health.v1 health and server reflection. */
export async function startGrpcServer(
  config: GrpcServerConfig,
  services: Omit<Services, 'authenticate'>,
  isHsmHealthy: () => boolean,
): Promise<RunningGrpcServer> {
  if (!config.tls && !LOOPBACK.has(config.host)) {
    throw new Error(`refusing to listen on ${config.host} in plaintext: --insecure is for loopback only; configure mTLS`);
  }
  const { credentials, authenticate, ready } = config.tls ? mutualTls(config.tls, () => services.policy.access, services.log) : insecure();
  // The certificate provider reads its files asynchronously: until it has, TLS handshakes fail, so
  // the service is not "listening" before then.
  await ready;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
    'grpc.max_concurrent_streams': config.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
  });
  const { definition, proto } = loadSignerPackage();
  const streams = config.streams ?? DEFAULT_STREAM_LIMITS;
  server.addService(
    withStrictRequests(proto.signer.v1.Signer.service, definition),
    signerHandlers({ ...services, authenticate, streams, maxMessageBytes: config.maxMessageBytes }),
  );
  new ReflectionService({ ...definition, ...healthDefinition() }).addToServer(server);

  const health = new HealthImplementation();
  const watch = boundedHealthWatch(config.healthWatch ?? DEFAULT_HEALTH_WATCH_LIMITS);
  const setHealth = (status: 'SERVING' | 'NOT_SERVING') => {
    for (const service of ['', SIGNER_SERVICE_NAME]) {
      health.setStatus(service, status);
      watch.setStatus(service, status);
    }
  };
  const updateHealth = () => setHealth(isHsmHealthy() ? 'SERVING' : 'NOT_SERVING');
  updateHealth();
  // The package's Watch is unbounded and needs no credentials: ours replaces it.
  health.addToServer({ addService: (service, implementation) => server.addService(service, { ...implementation, watch: watch.handler }) } as grpc.Server);
  const healthTimer = setInterval(updateHealth, config.healthIntervalMs ?? 5000).unref();

  const address = config.host.includes(':') ? `[${config.host}]:${config.port}` : `${config.host}:${config.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );

  return {
    port,
    shutdown: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        clearInterval(healthTimer);
        setHealth('NOT_SERVING');
        watch.close();
        const force = setTimeout(() => server.forceShutdown(), graceMs).unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

function insecure() {
  return { credentials: grpc.ServerCredentials.createInsecure(), authenticate: () => INSECURE_IDENTITY, ready: Promise.resolve() };
}

/**
 * The TLS layer asks every client for a certificate but does not refuse the handshake: each call
 * then verifies it and answers UNAUTHENTICATED (a refused handshake would look like UNAVAILABLE).
 * Certificate files are re-read every 10 minutes, so the server certificate can be rotated in place.
 */
function mutualTls(files: TlsFiles, access: () => AccessRules, log: Logger) {
  const readCas = () => readCaBundle(files.caFile);
  let cas = readCas();
  const unbound = cas.length > 1 ? access().identitiesWithoutCa() : [];
  if (unbound.length) log.warn('--tls-ca trusts several CAs: these identities name no CA in access.yaml and are refused on every call', { cas: cas.length, identities: unbound });
  const refreshIntervalMs = 600_000;
  // The identity check re-reads the CAs as often as the TLS layer does, so both agree after a rotation.
  setInterval(() => {
    try {
      cas = readCas();
    } catch (error) {
      // Keep the last good set for the identity check; say so, since the TLS layer may read the file differently.
      log.error('--tls-ca could not be re-read; the identity check keeps the previous CAs', { error: (error as Error).message });
    }
  }, refreshIntervalMs).unref();
  // One provider for both roles: grpc-js 1.14 swaps the CA and identity arguments internally.
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    caCertificateFile: files.caFile,
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    refreshIntervalMs,
  });
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
  return {
    credentials,
    authenticate: (call: grpc.ServerUnaryCall<unknown, unknown>) => identityFromCertificate(call.getAuthContext().sslPeerCertificate, cas, access()),
    ready: certificatesLoaded(provider, files),
  };
}

/** Resolves once the provider has loaded both the CA and the server's own certificate and key. */
function certificatesLoaded(provider: grpc.experimental.CertificateProvider, files: TlsFiles): Promise<void> {
  const loaded = (subscribe: (listener: (update: unknown) => void) => void, unsubscribe: (listener: (update: unknown) => void) => void) =>
    new Promise<void>((resolve) => {
      const listener = (update: unknown) => {
        if (update === null) return;
        unsubscribe(listener);
        resolve();
      };
      subscribe(listener);
    });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`TLS files could not be loaded: ${files.caFile}, ${files.certFile}, ${files.keyFile}`)), 10_000);
  });
  return Promise.race([
    Promise.all([
      loaded((l) => provider.addCaCertificateListener(l), (l) => provider.removeCaCertificateListener(l)),
      loaded((l) => provider.addIdentityCertificateListener(l), (l) => provider.removeIdentityCertificateListener(l)),
    ]).then(() => undefined),
    timeout,
  ]).finally(() => clearTimeout(timer));
}
