import { CommanderError } from 'commander';
import { startSigner } from './app.js';
import { JsonLogger } from './api/json-logger.js';
import { parseConfig } from './config.js';
import { SignerError } from './domain/errors.js';

const log = new JsonLogger();

// `npm start 2>&1 | tee log` stopped with Ctrl-C: tee dies with the service, so every later write to
// its pipe fails with EPIPE. Nobody is left to read it; the shutdown and its final audit checkpoint go on.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const signer = await startSigner(config, log);
  const token = config.pkcs11Module ? `token "${config.tokenLabel}"` : `development token "${config.tokenLabel}" in ${config.dataDir}/softhsm`;
  const address = `${config.host}:${signer.port}`;
  const mode = config.insecure ? 'plaintext, loopback only; every caller is "local"' : signer.devPki ? `mTLS, development CA in ${signer.devPki.dir}` : 'mTLS';
  let banner =
    (signer.faultsWarning ? `WARNING: ${signer.faultsWarning}\n` : '') +
    `signer listening on ${address} (${mode})\n` +
      `  HSM:      ${token} via ${signer.modulePath} (${config.sessions} sessions)\n` +
      `  database: ${config.database}\n` +
      `  policies: ${config.policyDir} (${signer.policy.current.policies.length} files; SIGHUP reloads)\n` +
      `  audit:    checkpoint key pinned in ${signer.auditKeyPath}\n` +
      `  JWKS:     ${signer.jwks ? signer.jwks.url : 'off'}\n` +
      `  metrics:  ${signer.metrics ? signer.metrics.url : 'off'}\n` +
      `  JSON-RPC: ${signer.jsonRpc ? `${signer.jsonRpc.url}${config.downstreamRpcUrl ? ' (downstream node set)' : ''}` : 'off'}\n`;
  if (signer.devPki) {
    const admin = signer.devPki.client('admin');
    banner +=
      `  development client certificates (relayer, backend, approver, admin) are in ${signer.devPki.dir}; for example:\n` +
        `    grpcurl -cacert ${signer.devPki.caCert} -cert ${admin.cert} -key ${admin.key} \\\n` +
        `      -d '{"name":"dev/relayer/hot-1","type":"KEY_TYPE_SECP256K1"}' localhost:${signer.port} signer.v1.Signer/CreateKey\n`;
  }
  banner += '  stop with SIGTERM or Ctrl-C (in-flight requests finish); SIGHUP reloads policies and access\n';

  process.on('SIGHUP', () => {
    try {
      signer.policy.reload();
    } catch {
      // Already logged with every problem; the previous policies stay in force.
    }
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down: finishing in-flight requests', { signal });
    signer.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('shutdown failed', { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Only now: a pipe write is synchronous, and whoever reads the banner may signal at once.
  process.stdout.write(banner);
}

main().catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  // Start-up failures are final: no retry loop that could lock the PIN.
  const message = error instanceof SignerError || error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  process.stderr.write(`signer failed to start: ${message}${cause}\n`);
  process.exit(1);
});
