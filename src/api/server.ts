import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { loadSignerPackage, SIGNER_SERVICE_NAME } from './proto.js';
import { signerHandlers, type Services } from './signer-handlers.js';

export interface GrpcServerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest request or response, in bytes. */
  maxMessageBytes: number;
  /** How often to re-check the HSM for the health service. */
  healthIntervalMs?: number;
}

export interface RunningGrpcServer {
  /** The port actually bound. */
  port: number;
  /** Stops accepting calls, lets in-flight calls finish (up to `graceMs`), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Starts the Signer service with grpc.health.v1 health and server reflection. */
export async function startGrpcServer(
  config: GrpcServerConfig,
  services: Services,
  isHsmHealthy: () => boolean,
): Promise<RunningGrpcServer> {
  if (!LOOPBACK.has(config.host)) {
    // mTLS is not built yet: plaintext must never leave the machine.
    throw new Error(`refusing to listen on ${config.host}: without mTLS the service only listens on loopback`);
  }
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  const { definition, proto } = loadSignerPackage();
  server.addService(proto.signer.v1.Signer.service, signerHandlers(services));
  new ReflectionService(definition).addToServer(server);

  const health = new HealthImplementation();
  const updateHealth = () => {
    const status = isHsmHealthy() ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    health.setStatus(SIGNER_SERVICE_NAME, status);
  };
  updateHealth();
  health.addToServer(server);
  const healthTimer = setInterval(updateHealth, config.healthIntervalMs ?? 5000).unref();

  const address = config.host.includes(':') ? `[${config.host}]:${config.port}` : `${config.host}:${config.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );

  return {
    port,
    shutdown: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        clearInterval(healthTimer);
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(SIGNER_SERVICE_NAME, 'NOT_SERVING');
        const force = setTimeout(() => server.forceShutdown(), graceMs).unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
